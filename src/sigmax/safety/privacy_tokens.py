"""API keys, tokens and credentials, found with detect-secrets' maintained detectors.

The patterns are the ``denylist`` regexes of detect-secrets' plugin classes (Yelp's secret
scanner: OpenAI, AWS, GitHub, GitLab, Slack, Telegram, Stripe, SendGrid, PyPI, Twilio,
Mailchimp, Square, Azure, npm, JWTs, private keys, credentials in URLs), taken from the classes
themselves so they follow the package's releases. detect-secrets reports the matched *string*
per line; the screen needs *positions* to redact, so it runs the same compiled patterns with
``finditer`` over the whole text; where a pattern also matches the secret's surroundings
(``://user:password@``) only the secret's group is redacted.

A few formats detect-secrets does not know are added here, each with the reason: Anthropic
keys, OpenAI project / service-account / admin keys without the legacy ``T3BlbkFJ`` marker,
GitHub fine-grained tokens, and a high-entropy value written after a key-like word
(``api_key: Zx9q...``), judged with detect-secrets' own Shannon-entropy measure.

Speed: every token is a long run of token characters, and each rule names literal hints one of
which every match holds. The text is cut into runs with ``bytes.translate`` and ``bytes.find``;
a rule's pattern runs only inside a long run that holds one of its hints, so clean text costs a
couple of class maps and one hint search per long run (a UUID, a timestamp).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
)
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

__all__ = ["TokenFinding", "TokenKind", "find_tokens"]


class TokenKind(Enum):
    """Whether a finding is an access token or a private key (they redact differently)."""

    TOKEN = "token"
    PRIVATE_KEY = "private_key"


@dataclass(frozen=True, slots=True)
class TokenFinding:
    """``text[start:end]`` is a token of the kind ``preview`` names (never its content)."""

    kind: TokenKind
    start: int
    end: int
    preview: str


@dataclass(frozen=True, slots=True)
class _Rule:
    preview: str
    pattern: re.Pattern[str]
    #: Literal strings, one of which every match holds (looked for in the run first).
    hints: tuple[str, ...]
    valid: Callable[[str], bool] | None = None
    #: The group holding the secret when the pattern also matches its surroundings (the
    #: password of ``://user:password@``); 0, the whole match, otherwise.
    group: int = 0


# Characters a token is made of: a match that stops inside a longer token (detect-secrets'
# patterns have no end anchor) is extended to the token's end so no tail stays visible.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _rules_of(
    detector: type[RegexBasedDetector],
    hints: tuple[str, ...],
    valid: Callable[[str], bool] | None = None,
    group: int = 0,
) -> list[_Rule]:
    name = str(detector.secret_type)
    return [
        _Rule(name, pattern, hints, valid, group)
        for pattern in detector.denylist  # type: ignore[attr-defined]  # a class attribute
    ]


_AWS_ID_HINTS = ("AKIA", "ASIA", "ABIA", "ACCA", "A3T")
_GITLAB_HINTS = (
    "glpat-",
    "gldt-",
    "glft-",
    "glsoat-",
    "glrt-",
    "GR1348941",
    "glcbt-",
    "glimt-",
    "glptt-",
    "glagent-",
    "gloas-",
)


@cache
def _rules() -> tuple[dict[str, tuple[_Rule, ...]], re.Pattern[str]]:
    """The token rules by hint, and one pattern finding any hint (built once)."""
    # AWS's second pattern (a secret key quoted after "aws ... key") spans spaces and quotes;
    # the key-word rule below finds the same values (40 base64 characters after "key").
    aws_ids = AWSKeyDetector.denylist[0]
    rules = (
        *_rules_of(OpenAIDetector, ("T3BlbkFJ",)),
        _Rule("AWS Access Key", aws_ids, _AWS_ID_HINTS),
        *_rules_of(GitHubTokenDetector, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
        *_rules_of(GitLabTokenDetector, _GITLAB_HINTS),
        *_rules_of(SlackDetector, ("xox", "XOX", "Xox", "hooks.slack.com", "HOOKS.SLACK.COM")),
        *_rules_of(TelegramBotTokenDetector, (":",)),
        *_rules_of(JwtTokenDetector, ("eyJ",), valid=JwtTokenDetector.is_formally_valid),
        *_rules_of(StripeDetector, ("k_live_",)),
        *_rules_of(SendGridDetector, ("SG.",)),
        *_rules_of(PypiTokenDetector, ("pypi-",)),
        *_rules_of(TwilioKeyDetector, ("AC", "SK")),
        *_rules_of(MailchimpDetector, ("-us",)),
        *_rules_of(SquareOAuthDetector, ("sq0csp-",)),
        *_rules_of(AzureStorageKeyDetector, ("AccountKey=",)),
        *_rules_of(NpmDetector, ("_authToken",), group=1),
        *_rules_of(BasicAuthDetector, ("://",), group=1),
        # Formats detect-secrets 1.5 does not cover:
        # OpenAI keys issued since 2024 (sk-proj-, sk-svcacct-, sk-admin-) need not carry the
        # legacy marker its rule requires.
        _Rule(
            "OpenAI Token",
            re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"),
            ("sk-proj-", "sk-svcacct-", "sk-admin-"),
        ),
        _Rule(
            "Anthropic API Key",
            re.compile(r"sk-ant-[a-z]+[0-9]*-[A-Za-z0-9_-]{20,}"),
            ("sk-ant-",),
        ),
        _Rule("GitHub Token", re.compile(r"github_pat_[A-Za-z0-9_]{40,}"), ("github_pat_",)),
    )
    by_hint: dict[str, tuple[_Rule, ...]] = {}
    for rule in rules:
        for hint in rule.hints:
            by_hint[hint] = (*by_hint.get(hint, ()), rule)
    hints = sorted(by_hint, key=len, reverse=True)
    return by_hint, re.compile("|".join(re.escape(hint) for hint in hints))


@cache
def _private_key_header() -> re.Pattern[str]:
    """All of detect-secrets' private key headers as one pattern."""
    return re.compile("|".join(pattern.pattern for pattern in PrivateKeyDetector.denylist))


_PRIVATE_KEY_HINTS = ("PRIVATE KEY", "PuTTY-User-Key-File")

# Every token rule's match lies inside a run of these characters (no whitespace, quotes or
# brackets) of at least MIN_RUN characters (the shortest, an AWS key id, has 20). Texts are
# split into such runs with one bytes.translate and a few bytes.find, and the rules only look
# inside the long runs that hold one of their hints.
_RUN_CHARS = frozenset(_TOKEN_CHARS | set(".+/=~:@%"))
_RUN_CLASSES = bytes(ord("w") if chr(byte) in _RUN_CHARS else ord(" ") for byte in range(256))
MIN_RUN = 20
_LONG_RUN = b"w" * MIN_RUN
# Private keys span lines, but every key block has a body line of 64 or 70 base64 characters:
# without a run this long there is no key to look for.
_KEY_BODY_RUN = 40
# A key-like word's value: 16 or more characters of this set (base64, hex, URL-safe forms).
_VALUE_CHARS = frozenset(_TOKEN_CHARS | set("+/=.~"))
_VALUE_CLASSES = bytes(ord("w") if chr(byte) in _VALUE_CHARS else ord(" ") for byte in range(256))
_MIN_VALUE = 16
# How far before a value its key word may stand: "AWS_SECRET_ACCESS_KEY = '".
_KEY_WORD_REACH = 48


def find_tokens(text: str, ascii_bytes: bytes) -> Iterator[TokenFinding]:
    """Every token in ``text``; ``ascii_bytes`` is the text encoded one byte per character
    (non-ASCII as ``?``), as the screen computes it once."""
    run_map = ascii_bytes.translate(_RUN_CLASSES)
    if _LONG_RUN in run_map:
        by_hint, any_hint = _rules()
        longest = 0
        for start, end in _runs(run_map, _LONG_RUN):
            longest = max(longest, end - start)
            hints = set(any_hint.findall(text, start, end))
            if not hints:
                continue
            # Hints overlap ("sk-ant-" in a run also holding "AC"): each rule runs once.
            rules = dict.fromkeys(rule for hint in hints for rule in by_hint[hint])
            for rule in rules:
                yield from _matches(rule, text, start, end)
        if longest >= _KEY_BODY_RUN and any(hint in text for hint in _PRIVATE_KEY_HINTS):
            yield from _private_keys(text)
    value_map = ascii_bytes.translate(_VALUE_CLASSES)
    if b"w" * _MIN_VALUE in value_map:
        yield from _keyword_values(text, value_map)


def _runs(class_map: bytes, needle: bytes) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every maximal run of ``w`` at least ``len(needle)`` long."""
    start = class_map.find(needle)
    while start != -1:
        end = class_map.find(b" ", start)
        end = len(class_map) if end == -1 else end
        yield start, end
        start = class_map.find(needle, end)


def _matches(rule: _Rule, text: str, start: int, end: int) -> Iterator[TokenFinding]:
    for match in rule.pattern.finditer(text, start, end):
        found_start, found_end = match.span(rule.group)
        if rule.valid is not None and not rule.valid(text[found_start:found_end]):
            continue
        if rule.group == 0:
            while found_end < len(text) and text[found_end] in _TOKEN_CHARS:
                found_end += 1
        yield TokenFinding(TokenKind.TOKEN, found_start, found_end, rule.preview)


def _private_keys(text: str) -> Iterator[TokenFinding]:
    for match in _private_key_header().finditer(text):
        start, end = _key_block(text, match.start(), match.end())
        yield TokenFinding(TokenKind.PRIVATE_KEY, start, end, "Private Key")


def _key_block(text: str, start: int, end: int) -> tuple[int, int]:
    """The whole key block around a header: from its ``-----`` to the end marker's ``-----``.

    Without an end marker (a key cut off) everything after the header is redacted: better a
    message with a hole than a key with one line missing.
    """
    dashes = text.rfind("-----", max(0, start - 6), start)
    if dashes != -1:
        start = dashes
    marker = text.find("-----END", end)
    if marker == -1:
        return start, len(text)
    closing = text.find("-----", marker + len("-----END"))
    return start, len(text) if closing == -1 else closing + len("-----")


# --- High-entropy values after key-like words ----------------------------------------------

# Searched in a lower-cased window: an IGNORECASE alternation is several times slower.
_KEY_WORD = re.compile("key|secret|token|passw|pwd|passphrase|auth|credential|bearer")
# What may follow the key word before the value: the rest of an identifier ("api_key_id",
# "tokens"), a closing quote, then ":", "=", "=>", whitespace or "is"; then an opening quote.
_KEYWORD_VALUE = re.compile(
    r"[A-Za-z_-]{0,24}?[\"']?[ \t]*(?:[:=]>?|[ \t](?:is[ \t]|was[ \t])?)[ \t]*[\"']?"
    r"(?P<value>[A-Za-z0-9+/=_.~-]{16,})"
)
_HEX_VALUE = re.compile(r"[0-9a-fA-F]+")
_BASE64 = Base64HighEntropyString()
_HEX = HexHighEntropyString()
# Below detect-secrets' 4.5 bits (tuned for 40-character values) a short random value cannot
# reach the limit at all (16 distinct characters carry 4 bits). A random value of n characters
# scores close to log2(n); English words and identifiers score well below it.
_ENTROPY_MARGIN = 0.6


def _keyword_values(text: str, value_map: bytes) -> Iterator[TokenFinding]:
    """High-entropy values of 16+ characters with a key-like word shortly before them."""
    for run_start, run_end in _runs(value_map, b"w" * _MIN_VALUE):
        # The key word may stand before the run or inside it ("secret=3f9a...").
        reach = max(0, run_start - _KEY_WORD_REACH)
        for word in _KEY_WORD.finditer(text[reach:run_end].lower()):
            match = _KEYWORD_VALUE.match(text, reach + word.end())
            if match is None or not run_start <= match.start("value") < run_end:
                continue
            # A sentence's full stop is not part of the value.
            value = match.group("value").rstrip(".")
            if _high_entropy(value):
                start = match.start("value")
                preview = f"high-entropy value after '{word.group()}'"
                yield TokenFinding(TokenKind.TOKEN, start, start + len(value), preview)


def _high_entropy(value: str) -> bool:
    if len(value) < 16:
        return False
    if _HEX_VALUE.fullmatch(value):
        has_letter = any(char.isalpha() for char in value)
        return (
            len(value) >= 32
            and has_letter
            and _HEX.calculate_shannon_entropy(value) > _HEX.entropy_limit
        )
    limit = min(_BASE64.entropy_limit, math.log2(len(value)) - _ENTROPY_MARGIN)
    return _BASE64.calculate_shannon_entropy(value) > limit
