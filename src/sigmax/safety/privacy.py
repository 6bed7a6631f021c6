"""The privacy screen: find and redact secrets and personal data in outgoing text.

Every piece of text SIGMAX sends out (agent arguments, decision explanations, log lines,
notifications, LLM prompts) passes through :class:`PrivacyScanner` first. It finds

* configured secret values (API keys, passwords), as written and URL-encoded;
* API keys and tokens (OpenAI, Anthropic, AWS, GitHub, Slack, Telegram, JWTs and more, with
  detect-secrets' detectors, see :mod:`sigmax.safety.privacy_tokens`), PEM private key blocks
  and high-entropy values written after key-like words;
* e-mail addresses (internationalised ones too) and phone numbers;
* payment card numbers (issuer prefix, issuer length and Luhn check all required);
* private keys (64 hex characters, or WIF keys verified by their base58check checksum);
* BIP-39 seed phrases (12 or more consecutive words of the English word list).

Non-ASCII text is screened twice: as written, and as the view of
:mod:`sigmax.safety.privacy_text` (NFKC, zero-width and bidi characters removed), so that a
secret split by an invisible character or written in full-width digits is still found; a finding
in the view redacts the original characters behind it.

The rules are tuned so that what a trading system writes (prices, quantities, percentages,
ISO and epoch-millisecond timestamps, order ids, UUIDs, hashes, symbols, indicator text) does not
trigger them. Two ambiguities remain and are redacted on purpose, because a privacy screen must
err towards hiding: a bare 64-hex token (a SHA-256 digest or a transaction hash looks exactly like
a private key), and integers written in card layout (``2301 2315 2290 2305``) that happen to pass
the issuer and Luhn checks. Prices written with decimals never match.

Speed: the screen runs on every outgoing message, so a clean message must cost microseconds.
Python's regex engine is slow at walking text character by character, so the scanner never runs
a pattern over the whole text. It maps the text once onto coarse character classes with
``bytes.translate`` (digits, alphanumerics, letters and spaces), finds the few places where a
finding could start with ``bytes.find``, and only there runs the exact, anchored pattern. The
token detectors run only over a text holding one of their literal hints.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import AnyStr
from urllib.parse import quote, quote_plus

from mnemonic import Mnemonic

from sigmax.safety.privacy_text import view_of
from sigmax.safety.privacy_tokens import TokenKind, find_tokens

__all__ = [
    "MIN_SECRET_LENGTH",
    "PrivacyScanner",
    "PrivacyViolation",
    "RedactionResult",
    "ViolationKind",
]

#: Configured secret values shorter than this are ignored: redacting every occurrence of a short
#: value (say a 4-letter password) would mangle ordinary words in every message.
MIN_SECRET_LENGTH = 6


class ViolationKind(StrEnum):
    """What kind of sensitive data a finding is."""

    SECRET = "secret"
    EMAIL = "email"
    PHONE = "phone"
    CARD_NUMBER = "card_number"
    PRIVATE_KEY = "private_key"
    SEED_PHRASE = "seed_phrase"
    TOKEN = "token"


# When findings overlap, the longest wins and ties go to the most severe kind: keys and seed
# phrases move money at once, configured secrets and API tokens grant account access, the rest is
# personal data.
_SEVERITY: dict[ViolationKind, int] = {
    ViolationKind.PRIVATE_KEY: 7,
    ViolationKind.SEED_PHRASE: 6,
    ViolationKind.SECRET: 5,
    ViolationKind.TOKEN: 4,
    ViolationKind.CARD_NUMBER: 3,
    ViolationKind.PHONE: 2,
    ViolationKind.EMAIL: 1,
}


@dataclass(frozen=True, slots=True)
class PrivacyViolation:
    """One finding: ``text[start:end]`` is sensitive.

    ``preview`` describes the finding without revealing any of it (for example
    ``card number (16 digits)``), so it may be logged and shown to operators.
    """

    kind: ViolationKind
    start: int
    end: int
    preview: str


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """Text with every finding replaced by ``[REDACTED:<kind>]``, and the findings themselves.

    The violations' positions refer to the original text, not to the redacted one.
    """

    text: str
    violations: tuple[PrivacyViolation, ...]

    @property
    def clean(self) -> bool:
        """True when nothing had to be redacted."""
        return not self.violations


# --- Character classes ----------------------------------------------------------------------
# The text is encoded as ASCII with every other character replaced by "?", one byte per
# character, so positions in the class maps are positions in the text.


def _class_table(keep: str, as_byte: str, other: str | None) -> bytes:
    """A ``bytes.translate`` table mapping bytes in ``keep`` to ``as_byte``, the rest to ``other``
    (or to themselves when ``other`` is None)."""
    kept = {ord(char) for char in keep}
    return bytes(
        ord(as_byte) if byte in kept else (byte if other is None else ord(other))
        for byte in range(256)
    )


_ASCII_DIGITS = "0123456789"
_ASCII_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Exactly the ASCII characters str.isspace() (and so the seed-phrase rule) treats as whitespace.
_ASCII_WHITESPACE = "".join(chr(code) for code in range(128) if chr(code).isspace())

# Digits become "0" and the separators of grouped numbers (space, dash, dot) become "-";
# everything else stays: "(555) 123-4567" maps to "(000)-000-0000".
_DIGIT_CLASSES = bytes(
    ord("0") if chr(byte) in _ASCII_DIGITS else ord("-") if chr(byte) in " -." else byte
    for byte in range(256)
)
# ASCII letters and digits become "w", everything else ".": keys are long runs of "w".
_ALNUM_CLASSES = _class_table(_ASCII_DIGITS + _ASCII_LETTERS, "w", ".")
# Letters and whitespace become "a", everything else "#": seed phrases are long runs of "a".
# "?" also becomes "a" because a non-ASCII character (encoded as "?") may be Unicode whitespace.
_WORDISH_CLASSES = _class_table(_ASCII_LETTERS + _ASCII_WHITESPACE + "?", "a", "#")


def _occurrences(haystack: AnyStr, needle: AnyStr) -> Iterator[int]:
    """Every position where ``needle`` occurs in ``haystack``, overlapping ones included."""
    position = haystack.find(needle)
    while position != -1:
        yield position
        position = haystack.find(needle, position + 1)


def _runs(
    haystack: bytes, run_byte: bytes, other_byte: bytes, min_length: int
) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every maximal run of ``run_byte`` at least ``min_length`` long.

    ``haystack`` must be a class map holding only ``run_byte`` and ``other_byte``.
    """
    needle = run_byte * min_length
    start = haystack.find(needle)
    while start != -1:
        end = haystack.find(other_byte, start)
        end = len(haystack) if end == -1 else end
        yield start, end
        start = haystack.find(needle, end)


def _matches_at(
    pattern: re.Pattern[str],
    text: str,
    class_map: bytes,
    triggers: Sequence[bytes],
    first_chars: str | None = None,
) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` anchored at every position where a trigger occurs in ``class_map``.

    Each trigger is the class-map image of how a match begins, so every match starts at a
    trigger position; lookbehinds in ``pattern`` still see the text before that position.
    Matches may overlap: a match that later fails validation must not hide one inside it
    ("1234 5678 4111 1111 1111 1111" holds a card from its third group on).
    ``first_chars``, when given, lists the only characters a useful match can start with.
    """
    for trigger in triggers:
        for position in _occurrences(class_map, trigger):
            if first_chars is not None and text[position] not in first_chars:
                continue
            match = pattern.match(text, position)
            if match is not None:
                yield match


# --- Patterns -------------------------------------------------------------------------------
# Lookarounds keep every pattern to whole tokens so that a fragment of a longer number, hash or
# identifier never matches. "Not preceded by a digit and a decimal point" (and the mirror image
# after the match) keeps decimals such as prices and quantities out.

# "+" then a country code (never 0) and groups of digits joined by single spaces or dashes, a
# group possibly in parentheses; 7-15 digits in all (checked after matching). Timezone offsets
# (+00:00, +0530) start with 0. Possessive quantifiers: digit groups never split, so no
# backtracking, and a number running into a decimal point is no phone at all.
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+(?:\([1-9][0-9]*+\)|[1-9][0-9]*+)(?:[ -]?\([0-9]++\)|[ -]?[0-9]++)*+"
    r"(?!\w)(?![.,][0-9])",
    re.ASCII,
)
_PHONE_GROUP = re.compile(r"\(?([0-9]+)\)?")
_PHONE_MIN_DIGITS = 7
_PHONE_MAX_DIGITS = 15
_PHONE_INTERNATIONAL_TRIGGERS = (b"+0", b"+(0")

# (555) 123-4567, 555-123-4567, 555.123.4567: one separator style per number; area codes never
# start with 0 or 1.
_PHONE_NORTH_AMERICAN = re.compile(
    r"(?<![\w.+-])"
    r"(?:\([2-9][0-9]{2}\) ?[0-9]{3}-[0-9]{4}|[2-9][0-9]{2}-[0-9]{3}-[0-9]{4}"
    r"|[2-9][0-9]{2}\.[0-9]{3}\.[0-9]{4})"
    r"(?!\w)(?![.-][0-9])",
    re.ASCII,
)
# Every form ends in "000-0000" in the digit map; that one test rules most texts out.
_PHONE_NORTH_AMERICAN_HINT = b"000-0000"
_PHONE_NORTH_AMERICAN_TRIGGERS = (b"(000)000-0000", b"(000)-000-0000", b"000-000-0000")

_CARD_CONTIGUOUS = re.compile(
    r"(?<![\w-])(?<![0-9][.,])[0-9]{13,19}(?![\w-])(?![.,][0-9])", re.ASCII
)
_CARD_CONTIGUOUS_TRIGGERS = (b"0" * 13,)

# Card layouts as printed: a 4-digit first group, then groups of 1-6 digits (4-4-4-4, 4-6-5,
# 4-6-4, 4-4-4-4-3, ...) all joined by the same single space or dash.
_CARD_GROUPED = re.compile(
    r"(?<![\w-])(?<![0-9][.,])[0-9]{4}(?P<sep>[ -])[0-9]{3,6}(?:(?P=sep)[0-9]{1,6}){1,3}"
    r"(?!\w)(?![.,][0-9])",
    re.ASCII,
)
_CARD_GROUPED_TRIGGERS = (b"0000-000",)

# (prefix length, lowest prefix, highest prefix, allowed card lengths); issuer in the comment.
_CARD_ISSUERS: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (1, 4, 4, frozenset({13, 16, 19})),  # Visa
    (2, 51, 55, frozenset({16})),  # Mastercard
    (4, 2221, 2720, frozenset({16})),  # Mastercard 2-series
    (2, 34, 34, frozenset({15})),  # American Express
    (2, 37, 37, frozenset({15})),  # American Express
    (4, 6011, 6011, frozenset(range(16, 20))),  # Discover
    (3, 644, 649, frozenset(range(16, 20))),  # Discover
    (2, 65, 65, frozenset(range(16, 20))),  # Discover
    (4, 3528, 3589, frozenset(range(16, 20))),  # JCB
    (2, 36, 36, frozenset(range(14, 20))),  # Diners Club International
    (3, 300, 305, frozenset(range(14, 20))),  # Diners Club Carte Blanche
    (2, 62, 62, frozenset(range(16, 20))),  # UnionPay
)
# Issuer prefixes start with these digits; candidates starting otherwise (epoch-ms timestamps
# start with 1) are dropped before any pattern runs.
_CARD_FIRST_DIGITS = "23456"
_CARD_MIN_DIGITS = 13
_CARD_MAX_DIGITS = 19

# Keys are whole alphanumeric tokens (an underscore or any punctuation ends a token).
_HEX_KEY = re.compile(r"(?:0[xX])?[0-9a-fA-F]{64}")
_HEX_KEY_LENGTHS = frozenset({64, 66})

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VALUE = {char: value for value, char in enumerate(_BASE58_ALPHABET)}
# WIF keys: 51 characters starting 5 (mainnet) or 9 (testnet) for uncompressed keys, 52 starting
# K or L (mainnet) or c (testnet) for compressed ones. The base58check checksum decides.
_WIF_UNCOMPRESSED = re.compile(r"[59][1-9A-HJ-NP-Za-km-z]{50}")
_WIF_COMPRESSED = re.compile(r"[KLc][1-9A-HJ-NP-Za-km-z]{51}")
_WIF_VERSIONS = {0x80: "mainnet", 0xEF: "testnet"}
_MIN_KEY_LENGTH = 51

_BIP39_INDEX = {word: index for index, word in enumerate(Mnemonic("english").wordlist)}
_BIP39_WORDS = frozenset(_BIP39_INDEX)
_IS_BIP39_WORD = _BIP39_WORDS.__contains__
_WORD = re.compile(r"[A-Za-z]+")
_SEED_MIN_WORDS = 12
_SEED_LENGTHS = (12, 15, 18, 21, 24)
# Runs longer than this are reported without searching every window for a valid phrase: the
# redaction is the same, and the search would cost time proportional to the run.
_SEED_WINDOW_LIMIT = 200
# 12 words of at least 3 letters and the 11 gaps between them.
_SEED_MIN_CHARS = _SEED_MIN_WORDS * 3 + _SEED_MIN_WORDS - 1
# The quick word-list test splits on whitespace only, so a word glued to punctuation at either
# end of a run is not counted there; requiring two words fewer keeps it a superset of the rule.
_SEED_QUICK_RUN = b"\x01" * (_SEED_MIN_WORDS - 2)

# The local part of an address as far back as the standard allows (64 characters), then the
# domain from the local part's first character.
# Internationalised addresses (RFC 6531: "jöhn@exämple.com") are addresses too: letters and
# digits of any script in the local part and the domain labels, a top-level domain of letters
# or its punycode form (xn--...).
_EMAIL_LOCAL_TAIL = re.compile(r"[\w%+.-]+\Z")
_EMAIL = re.compile(
    r"[\w%+.-]+@(?:(?:[^\W_]|-)+\.)+(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![\w-])"
)
_EMAIL_LOCAL_MAX = 64


# --- Checks ---------------------------------------------------------------------------------


def _luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    """True when ``digits`` has a real issuer prefix, that issuer's length and a Luhn check."""
    length = len(digits)
    for prefix_length, lowest, highest, lengths in _CARD_ISSUERS:
        if length in lengths and lowest <= int(digits[:prefix_length]) <= highest:
            return _luhn_valid(digits)
    return False


def _wif_network(token: str) -> tuple[str, bool] | None:
    """``(network, compressed)`` when ``token`` is a WIF key with a valid checksum, else None."""
    number = 0
    for char in token:
        number = number * 58 + _BASE58_VALUE[char]
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    payload, checksum = raw[:-4], raw[-4:]
    if not payload or hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return None
    network = _WIF_VERSIONS.get(payload[0])
    if network is None:
        return None
    if len(payload) == 33:
        return network, False
    if len(payload) == 34 and payload[33] == 0x01:
        return network, True
    return None


def _bip39_checksum_valid(indices: Sequence[int]) -> bool:
    """BIP-39's check: the last ``len/3`` bits are the first bits of SHA-256 of the rest."""
    checksum_bits = len(indices) // 3
    number = 0
    for index in indices:
        number = (number << 11) | index
    entropy_bits = len(indices) * 11 - checksum_bits
    entropy = (number >> checksum_bits).to_bytes(entropy_bits // 8, "big")
    expected = hashlib.sha256(entropy).digest()[0] >> (8 - checksum_bits)
    return expected == number & ((1 << checksum_bits) - 1)


def _seed_preview(words: Sequence[str]) -> str:
    """Describe a run of BIP-39 words, saying whether it holds a checksum-valid phrase."""
    count = len(words)
    indices = [_BIP39_INDEX[word] for word in words]
    if count in _SEED_LENGTHS:
        valid = _bip39_checksum_valid(indices)
        return f"{count}-word BIP-39 phrase (checksum {'valid' if valid else 'invalid'})"
    if count > _SEED_WINDOW_LIMIT:
        return f"{count} consecutive BIP-39 words (too many to check every phrase inside)"
    # A longer run (a phrase next to a stray list word): look for a valid phrase inside it.
    for length in reversed(_SEED_LENGTHS):
        for offset in range(count - length + 1):
            if _bip39_checksum_valid(indices[offset : offset + length]):
                return (
                    f"{count} consecutive BIP-39 words "
                    f"(contains a checksum-valid {length}-word phrase)"
                )
    return f"{count} consecutive BIP-39 words (no checksum-valid phrase inside)"


def _url_encoded_forms(value: str) -> set[str]:
    """How ``value`` can appear inside a URL or form body, other than as itself."""
    forms = {quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)}
    # Some encoders write the hex digits in lower case (%2f rather than %2F).
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), form) for form in forms}
    forms.discard(value)
    return forms


# --- Detectors ------------------------------------------------------------------------------


def _find_international_phones(text: str, digit_map: bytes, found: list[PrivacyViolation]) -> None:
    if b"+" not in digit_map:
        return
    for match in _matches_at(_PHONE_INTERNATIONAL, text, digit_map, _PHONE_INTERNATIONAL_TRIGGERS):
        # Numbers written right after the phone ("+44 20 7946 0958 2023") are not part of it:
        # keep the leading groups that fit in 15 digits.
        digits = 0
        end = match.start()
        for group in _PHONE_GROUP.finditer(text, match.start(), match.end()):
            if digits + len(group.group(1)) > _PHONE_MAX_DIGITS:
                break
            digits += len(group.group(1))
            end = group.end()
        if digits < _PHONE_MIN_DIGITS:
            continue
        found.append(
            PrivacyViolation(
                ViolationKind.PHONE,
                match.start(),
                end,
                f"international phone number ({digits} digits)",
            )
        )


def _find_north_american_phones(text: str, digit_map: bytes, found: list[PrivacyViolation]) -> None:
    if _PHONE_NORTH_AMERICAN_HINT not in digit_map:
        return
    for match in _matches_at(
        _PHONE_NORTH_AMERICAN, text, digit_map, _PHONE_NORTH_AMERICAN_TRIGGERS
    ):
        found.append(
            PrivacyViolation(
                ViolationKind.PHONE, match.start(), match.end(), "North American phone number"
            )
        )


def _card_violation(start: int, digits: str, span_length: int) -> PrivacyViolation:
    return PrivacyViolation(
        ViolationKind.CARD_NUMBER, start, start + span_length, f"card number ({len(digits)} digits)"
    )


def _find_cards(text: str, digit_map: bytes, found: list[PrivacyViolation]) -> None:
    for match in _matches_at(
        _CARD_CONTIGUOUS, text, digit_map, _CARD_CONTIGUOUS_TRIGGERS, _CARD_FIRST_DIGITS
    ):
        digits = match.group()
        if _is_card_number(digits):
            found.append(_card_violation(match.start(), digits, len(digits)))
    for match in _matches_at(
        _CARD_GROUPED, text, digit_map, _CARD_GROUPED_TRIGGERS, _CARD_FIRST_DIGITS
    ):
        groups = match.group().split(match.group("sep"))
        # Longest valid prefix of the groups: "4111 1111 1111 1111 737" is a card then a CVV.
        for count in range(len(groups), 1, -1):
            digits = "".join(groups[:count])
            if _CARD_MIN_DIGITS <= len(digits) <= _CARD_MAX_DIGITS and _is_card_number(digits):
                found.append(_card_violation(match.start(), digits, len(digits) + count - 1))
                break


def _find_private_keys(text: str, alnum_map: bytes, found: list[PrivacyViolation]) -> None:
    for start, end in _runs(alnum_map, b"w", b".", _MIN_KEY_LENGTH):
        length = end - start
        if length in _HEX_KEY_LENGTHS and _HEX_KEY.fullmatch(text, start, end):
            found.append(
                PrivacyViolation(ViolationKind.PRIVATE_KEY, start, end, "64-hex private key")
            )
            continue
        wif = _WIF_UNCOMPRESSED if length == 51 else _WIF_COMPRESSED if length == 52 else None
        if wif is None or not wif.fullmatch(text, start, end):
            continue
        verified = _wif_network(text[start:end])
        if verified is None:
            continue
        network, compressed = verified
        form = "compressed" if compressed else "uncompressed"
        found.append(
            PrivacyViolation(
                ViolationKind.PRIVATE_KEY, start, end, f"WIF private key ({form}, {network})"
            )
        )


def _find_seed_phrases(text: str, wordish_map: bytes, found: list[PrivacyViolation]) -> None:
    # A phrase needs a long stretch of nothing but letters and whitespace: most texts stop here.
    if b"a" * _SEED_MIN_CHARS not in wordish_map:
        return
    # Quick test: enough consecutive list words at all? Prose almost always stops here.
    if _SEED_QUICK_RUN not in bytes(map(_IS_BIP39_WORD, text.lower().split())):
        return
    for start, end in _runs(wordish_map, b"a", b"#", _SEED_MIN_CHARS):
        _find_seed_runs(text, start, end, found)


def _find_seed_runs(text: str, start: int, end: int, found: list[PrivacyViolation]) -> None:
    """The exact rule: 12+ list words in a row, separated by nothing but whitespace."""
    run: list[tuple[int, int, str]] = []
    for word in _WORD.finditer(text, start, end):
        lowered = word.group().lower()
        joined = not run or text[run[-1][1] : word.start()].isspace()
        if lowered in _BIP39_WORDS and joined:
            run.append((word.start(), word.end(), lowered))
            continue
        _record_seed_run(run, found)
        run = [(word.start(), word.end(), lowered)] if lowered in _BIP39_WORDS else []
    _record_seed_run(run, found)


def _record_seed_run(run: Sequence[tuple[int, int, str]], found: list[PrivacyViolation]) -> None:
    if len(run) < _SEED_MIN_WORDS:
        return
    preview = _seed_preview([word for _, _, word in run])
    found.append(PrivacyViolation(ViolationKind.SEED_PHRASE, run[0][0], run[-1][1], preview))


def _find_emails(text: str, found: list[PrivacyViolation]) -> None:
    covered_until = 0
    for at in _occurrences(text, "@"):
        if at < covered_until:
            continue
        local = _EMAIL_LOCAL_TAIL.search(text, max(covered_until, at - _EMAIL_LOCAL_MAX), at)
        if local is None:
            continue
        # An address never starts with a dot: "see...bob@example.com" is bob's address.
        start = local.start()
        while text[start] == ".":
            start += 1
        match = _EMAIL.match(text, start)
        if match is None:
            continue
        covered_until = match.end()
        found.append(PrivacyViolation(ViolationKind.EMAIL, start, match.end(), "email address"))


def _find_tokens(text: str, ascii_bytes: bytes, found: list[PrivacyViolation]) -> None:
    for token in find_tokens(text, ascii_bytes):
        kind = (
            ViolationKind.PRIVATE_KEY
            if token.kind is TokenKind.PRIVATE_KEY
            else ViolationKind.TOKEN
        )
        found.append(PrivacyViolation(kind, token.start, token.end, token.preview))


def _find_patterns(text: str, found: list[PrivacyViolation]) -> None:
    """Everything but the configured secrets."""
    # One byte per character (non-ASCII becomes "?"), so byte positions are text positions.
    ascii_bytes = text.encode("ascii", "replace")
    digit_map = ascii_bytes.translate(_DIGIT_CLASSES)
    _find_international_phones(text, digit_map, found)
    _find_north_american_phones(text, digit_map, found)
    _find_cards(text, digit_map, found)
    _find_private_keys(text, ascii_bytes.translate(_ALNUM_CLASSES), found)
    _find_seed_phrases(text, ascii_bytes.translate(_WORDISH_CLASSES), found)
    _find_tokens(text, ascii_bytes, found)
    if "@" in text:
        _find_emails(text, found)


# --- Merging --------------------------------------------------------------------------------


def _merge_overlaps(found: list[PrivacyViolation]) -> tuple[PrivacyViolation, ...]:
    """Sort findings and merge overlapping ones into a single finding covering their union."""
    if not found:
        return ()
    found.sort(key=lambda violation: (violation.start, -violation.end))
    merged: list[PrivacyViolation] = []
    winner = found[0]
    cluster_start, cluster_end = winner.start, winner.end
    for violation in found[1:]:
        if violation.start < cluster_end:
            cluster_end = max(cluster_end, violation.end)
            if _rank(violation) > _rank(winner):
                winner = violation
            continue
        merged.append(_spanning(winner, cluster_start, cluster_end))
        winner = violation
        cluster_start, cluster_end = violation.start, violation.end
    merged.append(_spanning(winner, cluster_start, cluster_end))
    return tuple(merged)


def _rank(violation: PrivacyViolation) -> tuple[int, int]:
    return violation.end - violation.start, _SEVERITY[violation.kind]


def _spanning(winner: PrivacyViolation, start: int, end: int) -> PrivacyViolation:
    if winner.start == start and winner.end == end:
        return winner
    return PrivacyViolation(winner.kind, start, end, winner.preview)


# --- The scanner ----------------------------------------------------------------------------


class PrivacyScanner:
    """Finds and redacts secrets and personal data in text.

    ``secret_values`` are the configured secrets (API keys, passwords, URLs with credentials).
    Values shorter than :data:`MIN_SECRET_LENGTH` characters are ignored. A scanner is immutable
    and safe to share between threads.
    """

    __slots__ = ("_secret_needles",)

    def __init__(self, secret_values: Sequence[str] = ()) -> None:
        if isinstance(secret_values, str):
            # A bare string is a Sequence[str] of characters; that is never what is meant.
            raise TypeError("secret_values: expected a sequence of strings, got a single string")
        needles: dict[str, str] = {}
        for index, value in enumerate(secret_values):
            if not isinstance(value, str):
                raise TypeError(
                    f"secret_values[{index}]: expected a string, got {type(value).__name__}"
                )
            if len(value) < MIN_SECRET_LENGTH:
                continue
            number = index + 1
            needles.setdefault(value, f"secret value #{number} of configuration")
            for form in sorted(_url_encoded_forms(value)):
                needles.setdefault(form, f"URL-encoded secret value #{number} of configuration")
        # Longest first, so that when one secret contains another the longer one is reported.
        self._secret_needles: tuple[tuple[str, str], ...] = tuple(
            sorted(needles.items(), key=lambda item: -len(item[0]))
        )

    @property
    def secret_count(self) -> int:
        """How many distinct secret strings (URL-encoded forms included) are screened for."""
        return len(self._secret_needles)

    def scan(self, text: str) -> tuple[PrivacyViolation, ...]:
        """Every finding in ``text``, sorted by position and non-overlapping.

        Overlapping findings are merged into one spanning all of them (so nothing found is left
        visible), reported with the kind and preview of the longest, then most severe, finding.
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a string, got {type(text).__name__}")
        found: list[PrivacyViolation] = []
        self._find_secrets(text, found)
        view = view_of(text)
        if view.is_original:
            _find_patterns(text, found)
            return _merge_overlaps(found)
        # Configured secrets as written above; everything again in the normalised view, whose
        # findings are mapped back onto the original characters.
        in_view: list[PrivacyViolation] = []
        self._find_secrets(view.text, in_view)
        _find_patterns(view.text, in_view)
        for violation in in_view:
            start, end = view.original_span(violation.start, violation.end)
            found.append(PrivacyViolation(violation.kind, start, end, violation.preview))
        return _merge_overlaps(found)

    def redact(self, text: str) -> RedactionResult:
        """``text`` with every finding replaced by ``[REDACTED:<kind>]``."""
        violations = self.scan(text)
        if not violations:
            return RedactionResult(text, ())
        pieces: list[str] = []
        cursor = 0
        for violation in violations:
            pieces.append(text[cursor : violation.start])
            pieces.append(f"[REDACTED:{violation.kind.value}]")
            cursor = violation.end
        pieces.append(text[cursor:])
        return RedactionResult("".join(pieces), violations)

    def _find_secrets(self, text: str, found: list[PrivacyViolation]) -> None:
        for needle, preview in self._secret_needles:
            start = text.find(needle)
            while start != -1:
                found.append(
                    PrivacyViolation(ViolationKind.SECRET, start, start + len(needle), preview)
                )
                # Step by one: overlapping occurrences merge later into one redaction.
                start = text.find(needle, start + 1)
