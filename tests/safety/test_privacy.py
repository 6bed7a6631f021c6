"""The privacy screen: every kind of finding, exact redaction, and no false positives on what a
trading system writes."""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic

from sigmax.safety.privacy import (
    MIN_SECRET_LENGTH,
    PrivacyScanner,
    PrivacyViolation,
    ViolationKind,
)

SCANNER = PrivacyScanner()
MNEMONIC = Mnemonic("english")

# The data range of the bundled candles: 2021-04-05 .. 2023-10-01 in epoch milliseconds.
FIRST_MS = 1617580800000
LAST_MS = 1696114800000


def only_finding(text: str, scanner: PrivacyScanner = SCANNER) -> PrivacyViolation:
    findings = scanner.scan(text)
    assert len(findings) == 1, f"expected one finding in {text!r}, got {findings}"
    return findings[0]


def assert_finds(
    text: str, kind: ViolationKind, secret: str, scanner: PrivacyScanner = SCANNER
) -> PrivacyViolation:
    """``secret`` occurs once in ``text`` and is found exactly, with a preview that hides it."""
    finding = only_finding(text, scanner)
    assert finding.kind is kind
    assert text[finding.start : finding.end] == secret
    assert secret not in finding.preview
    assert secret[-4:] not in finding.preview, "the preview must not reveal the tail either"
    redacted = scanner.redact(text).text
    assert redacted == text.replace(secret, f"[REDACTED:{kind.value}]")
    return finding


def base58check(payload: bytes) -> str:
    """Reference encoder (Bitcoin's base58check), independent of the scanner's decoder."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    encoded = ""
    while number:
        number, digit = divmod(number, 58)
        encoded = alphabet[digit] + encoded
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + encoded


# --- email --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("contact ops@sigmax.io for access", "ops@sigmax.io"),
        ("Reply to bob.smith+alerts@example.co.uk.", "bob.smith+alerts@example.co.uk"),
        ("(alice_99@mail.example.org)", "alice_99@mail.example.org"),
        ("contact ...carol@example.com", "carol@example.com"),
        ("ALERT: Trader.Joe@Example.COM placed the order", "Trader.Joe@Example.COM"),
    ],
)
def test_email_addresses_are_found(text: str, address: str) -> None:
    finding = assert_finds(text, ViolationKind.EMAIL, address)
    assert finding.preview == "email address"


@pytest.mark.parametrize(
    "text",
    [
        "buy 0.25 BTC @ 58202.01 limit",
        "filled 1.5 ETH@1650.40",
        "ping @everyone: BTC/USDT broke 30000",
        "user@localhost is not an address on the internet",
    ],
)
def test_at_signs_in_trading_text_are_not_emails(text: str) -> None:
    assert SCANNER.scan(text) == ()


# --- phone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call +1 (555) 123-4567 now", "+1 (555) 123-4567"),
        ("desk: +44 20 7946 0958", "+44 20 7946 0958"),
        ("+49-30-1234567 is the Berlin office", "+49-30-1234567"),
        ("whatsapp +6591234567.", "+6591234567"),
        ("(tel. +1 (555) 123-4567)", "+1 (555) 123-4567"),
        ("+44 20 7946 0958 1617580800000", "+44 20 7946 0958"),
        ("office (555) 123-4567", "(555) 123-4567"),
        ("cell 555-123-4567, ask for Sam", "555-123-4567"),
        ("fax 555.123.4567", "555.123.4567"),
    ],
)
def test_phone_numbers_are_found(text: str, number: str) -> None:
    assert_finds(text, ViolationKind.PHONE, number)


@pytest.mark.parametrize(
    "text",
    [
        "2023-10-01T00:00:00+00:00",
        "opened 2023-10-01 09:30:00 +0530",
        "PnL +12.50% (+1234567.89 USDT)",
        "RSI +5 bars after cross",
        "+1234567890123456789 is too long for a phone",
        "(+12.5%) and +7 (3)",
        "open_time 1617580800000",
        "order 8389765487654",
        "1696114800000-1696118399999",
        "5551234567 as a bare run of digits",
        "v1.555.123.4567",
    ],
)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert SCANNER.scan(text) == ()


# --- card number --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "card", "digits"),
    [
        ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", 16),
        ("card 4111-1111-1111-1111", "4111-1111-1111-1111", 16),
        ("4111111111111111 737", "4111111111111111", 16),
        ("amex 378282246310005.", "378282246310005", 15),
        ("amex 3782 822463 10005", "3782 822463 10005", 15),
        ("mc 5555555555554444", "5555555555554444", 16),
        ("mc 2-series 2223003122003222", "2223003122003222", 16),
        ("discover 6011111111111117", "6011111111111117", 16),
        ("jcb 3530111333300000", "3530111333300000", 16),
        ("diners 30569309025904", "30569309025904", 14),
        ("unionpay 6200000000000005", "6200000000000005", 16),
        ("old visa 4222222222222", "4222222222222", 13),
        # A CVV printed after the card is not part of it.
        ("4111 1111 1111 1111 737", "4111 1111 1111 1111", 16),
        # Groups before it that are no card do not hide it.
        ("ref 1234 5678 4111 1111 1111 1111 end", "4111 1111 1111 1111", 16),
        ("ref 1234 4111 1111 1111 1111 5678 end", "4111 1111 1111 1111", 16),
    ],
)
def test_card_numbers_are_found(text: str, card: str, digits: int) -> None:
    finding = assert_finds(text, ViolationKind.CARD_NUMBER, card)
    assert finding.preview == f"card number ({digits} digits)"


def luhn_complete(prefix: str, length: int) -> str:
    """``prefix`` padded with zeros and a Luhn check digit to ``length`` digits."""
    body = prefix.ljust(length - 1, "0")
    for check in "0123456789":
        candidate = body + check
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable: one check digit always fits")


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        luhn_complete("1", 16),  # no issuer starts with 1
        luhn_complete("9", 16),  # nor with 9
        luhn_complete("37", 16),  # Amex numbers have 15 digits, not 16
        luhn_complete("51", 15),  # Mastercard numbers have 16 digits
        "qty 4111111111111111.25",  # a decimal, not a card
        "id 4111111111111111abc",  # part of a longer token
        "4111.1111.1111.1111",  # dotted groups are not a card layout
    ],
)
def test_numbers_that_are_not_cards(text: str) -> None:
    assert SCANNER.scan(text) == ()


# --- private key --------------------------------------------------------------------------

HEX_KEY = hashlib.sha256(b"sigmax test key").hexdigest()
# The Bitcoin wiki's WIF example: private key 0C28FCA3...AA1D, uncompressed and compressed.
WIF_UNCOMPRESSED = "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ"
WIF_COMPRESSED = "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617"
WIF_SECRET = bytes.fromhex("0C28FCA386C7A227600B2FE50B7CAE11EC86D3BF1FBE471BE89827E19D72AA1D")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"key {HEX_KEY} loaded", HEX_KEY),
        (f"PRIVATE_KEY=0x{HEX_KEY}", f"0x{HEX_KEY}"),
        (f"key: 0X{HEX_KEY.upper()}.", f"0X{HEX_KEY.upper()}"),
        (f'{{"key": "{HEX_KEY}"}}', HEX_KEY),
    ],
)
def test_hex_private_keys_are_found(text: str, key: str) -> None:
    finding = assert_finds(text, ViolationKind.PRIVATE_KEY, key)
    assert finding.preview == "64-hex private key"


def test_wif_keys_from_the_published_vector_are_found() -> None:
    # The reference encoder reproduces the published vectors, so the test data is what it says.
    assert base58check(b"\x80" + WIF_SECRET) == WIF_UNCOMPRESSED
    assert base58check(b"\x80" + WIF_SECRET + b"\x01") == WIF_COMPRESSED
    first = assert_finds(f"wif {WIF_UNCOMPRESSED} ok", ViolationKind.PRIVATE_KEY, WIF_UNCOMPRESSED)
    assert first.preview == "WIF private key (uncompressed, mainnet)"
    second = assert_finds(f"wif={WIF_COMPRESSED}", ViolationKind.PRIVATE_KEY, WIF_COMPRESSED)
    assert second.preview == "WIF private key (compressed, mainnet)"


def test_testnet_wif_keys_are_found() -> None:
    uncompressed = base58check(b"\xef" + WIF_SECRET)
    compressed = base58check(b"\xef" + WIF_SECRET + b"\x01")
    assert uncompressed[0] == "9"
    assert compressed[0] == "c"
    assert only_finding(uncompressed).preview == "WIF private key (uncompressed, testnet)"
    assert only_finding(compressed).preview == "WIF private key (compressed, testnet)"


def test_wif_lookalikes_with_a_wrong_checksum_are_ignored() -> None:
    tampered = WIF_COMPRESSED[:-1] + ("7" if WIF_COMPRESSED[-1] != "7" else "8")
    assert SCANNER.scan(f"wif {tampered}") == ()
    # Right length and alphabet but another version byte: a base58check string, not a key.
    other_version = base58check(b"\x81" + WIF_SECRET)
    assert SCANNER.scan(other_version) == ()


@pytest.mark.parametrize(
    "text",
    [
        HEX_KEY[:63],
        HEX_KEY + "a",
        HEX_KEY + HEX_KEY,  # a 128-hex run, e.g. a SHA-512 digest
        "g" + HEX_KEY,  # inside a longer token
        hashlib.sha1(b"commit").hexdigest(),  # git commit
        hashlib.md5(b"order").hexdigest(),  # 32-hex id
        str(uuid.uuid5(uuid.NAMESPACE_URL, "https://sigmax.example/orders/1")),
    ],
)
def test_hex_that_is_not_a_private_key(text: str) -> None:
    assert SCANNER.scan(f"ref {text} done") == ()


# --- seed phrase --------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [128, 256])
def test_generated_mnemonics_are_found_with_a_valid_checksum(strength: int) -> None:
    phrase = MNEMONIC.generate(strength)
    words = len(phrase.split())
    finding = assert_finds(
        f"backup phrase: {phrase}. keep it safe", ViolationKind.SEED_PHRASE, phrase
    )
    assert finding.preview == f"{words}-word BIP-39 phrase (checksum valid)"


def test_a_fixed_mnemonic_in_upper_case_across_lines_is_found() -> None:
    phrase = MNEMONIC.to_mnemonic(bytes(range(20)))  # 15 words
    spaced = "\n".join(" ".join(phrase.split()[i : i + 5]) for i in range(0, 15, 5)).upper()
    finding = assert_finds(f"Words:\n{spaced}\n", ViolationKind.SEED_PHRASE, spaced)
    assert finding.preview == "15-word BIP-39 phrase (checksum valid)"


def test_a_phrase_with_a_broken_checksum_is_still_a_leak() -> None:
    phrase = " ".join(["abandon"] * 12)
    assert not MNEMONIC.check(phrase)
    finding = assert_finds(f"backup: {phrase}", ViolationKind.SEED_PHRASE, phrase)
    assert finding.preview == "12-word BIP-39 phrase (checksum invalid)"


def test_a_phrase_next_to_another_list_word_is_reported_whole() -> None:
    phrase = MNEMONIC.to_mnemonic(bytes(16))  # abandon x11 about
    text = f"my seed {phrase}"  # "seed" is a list word too
    finding = only_finding(text)
    assert text[finding.start : finding.end] == f"seed {phrase}"
    assert (
        finding.preview == "13 consecutive BIP-39 words (contains a checksum-valid 12-word phrase)"
    )


@settings(max_examples=200, deadline=None)
@given(
    words=st.sampled_from([12, 15, 18, 21, 24]).flatmap(
        lambda count: st.lists(st.sampled_from(MNEMONIC.wordlist), min_size=count, max_size=count)
    )
)
def test_the_checksum_verdict_agrees_with_the_reference(words: list[str]) -> None:
    phrase = " ".join(words)
    verdict = "valid" if MNEMONIC.check(phrase) else "invalid"
    finding = only_finding(f"words: {phrase}.")
    assert finding.preview == f"{len(words)}-word BIP-39 phrase (checksum {verdict})"


def test_a_very_long_run_of_list_words_is_one_finding() -> None:
    text = "abandon " * 1000
    finding = only_finding(text)
    assert (finding.start, finding.end) == (0, len(text) - 1)
    assert finding.preview == (
        "1000 consecutive BIP-39 words (too many to check every phrase inside)"
    )


def test_eleven_list_words_are_not_a_phrase() -> None:
    words = MNEMONIC.to_mnemonic(bytes(16)).split()
    assert SCANNER.scan(" ".join(words[:11])) == ()
    # Twelve words broken by punctuation are not a whitespace-separated run either.
    assert SCANNER.scan(" ".join(words[:6]) + "; " + " ".join(words[6:])) == ()


MARKET_COMMENTARY = [
    "Bitcoin held above the weekly support level as buyers absorbed the selling pressure, "
    "while funding stayed neutral and open interest rose.",
    "Price action remains choppy: the market tested resistance twice, failed, and volume "
    "faded into the close; a clean break above the range high would confirm the trend.",
    "We see risk to the downside if the daily candle closes below the rising trend line, "
    "which has acted as solid support since the rally began in early spring.",
    "Ethereum gained ground against bitcoin after the upgrade, and traders added long "
    "exposure ahead of the unlock; the order book shows thin liquidity above the high.",
    "Sentiment turned cautious after the exchange outage, yet whales kept buying the dip "
    "and the spot premium stayed positive all week, a sign of real demand.",
    "If price can reclaim the level and hold it on a daily close, the next target is the "
    "previous swing high; failure there would open a move back toward the middle of the range.",
    "The agent argued to hold the position because the trend is intact, the signal is "
    "clear and the risk budget still has room for one more small trade this week.",
]


@pytest.mark.parametrize("sentence", MARKET_COMMENTARY)
def test_market_commentary_is_not_a_seed_phrase(sentence: str) -> None:
    assert SCANNER.scan(sentence) == ()


# --- configured secrets -------------------------------------------------------------------


def test_configured_secret_inside_a_sentence_is_found() -> None:
    scanner = PrivacyScanner(["xK9#pLm2$vQ", "hunter2-api-key-7781"])
    finding = assert_finds(
        "calling the venue with key hunter2-api-key-7781 failed",
        ViolationKind.SECRET,
        "hunter2-api-key-7781",
        scanner,
    )
    assert finding.preview == "secret value #2 of configuration"


def test_url_encoded_secret_is_found() -> None:
    scanner = PrivacyScanner(["p@ss/word!"])
    finding = assert_finds(
        "GET https://api.example.com/v1?token=p%40ss%2Fword%21&x=1",
        ViolationKind.SECRET,
        "p%40ss%2Fword%21",
        scanner,
    )
    assert finding.preview == "URL-encoded secret value #1 of configuration"
    # Lower-case escapes and form encoding (space as "+") are the same secret.
    assert only_finding("token=p%40ss%2fword%21", scanner).kind is ViolationKind.SECRET
    spaced = PrivacyScanner(["two words here"])
    assert only_finding("q=two+words+here", spaced).kind is ViolationKind.SECRET


def test_short_secret_values_are_ignored() -> None:
    short = "x" * (MIN_SECRET_LENGTH - 1)
    scanner = PrivacyScanner([short, "abcdef"])
    assert scanner.scan(f"value {short} here") == ()
    assert only_finding("value abcdef here", scanner).preview == (
        "secret value #2 of configuration"
    )


def test_the_longest_configured_secret_wins() -> None:
    scanner = PrivacyScanner(["abcdef", "abcdef123456"])
    finding = only_finding("token=abcdef123456;", scanner)
    assert (finding.start, finding.end) == (6, 18)
    assert finding.preview == "secret value #2 of configuration"


def test_secret_values_must_be_strings() -> None:
    with pytest.raises(TypeError, match=r"secret_values\[1\]: expected a string, got int"):
        PrivacyScanner(["abcdefgh", 12345678])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="secret_values: expected a sequence of strings"):
        PrivacyScanner("abcdefgh")
    with pytest.raises(TypeError, match="text: expected a string, got bytes"):
        SCANNER.scan(b"abc")  # type: ignore[arg-type]


# --- API keys and tokens (detect-secrets' detectors and the formats it lacks) -------------

# Made-up values in each provider's published format; none is a live credential.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEowIBAAKCAQEAsigmaxTESTkeyBODYlineONE0123456789abcdefghijklmnopq"
PEM_KEY = (
    f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY[::-1]}\n-----END RSA PRIVATE KEY-----"
)
TOKENS = {
    "OpenAI project key": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o",
    "OpenAI legacy key": "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",
    "Anthropic key": "sk-ant-api03-Zx9qT4mB7vK2pL8wRt5YcN3hJ6gF1dS0aQeWuIoP-_AA",
    "AWS access key id": "AKIAIOSFODNN7EXAMPLE",
    "GitHub classic token": "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
    "GitHub fine-grained token": "github_pat_11ABCDEFG0"
    + "aB3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c" * 2,
    "GitLab token": "glpat-Ab3dEf6hIj9kLm2nOp5q",
    "Slack bot token": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "Slack webhook": "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/AbCdEfGhIjKlMnOpQrStUvWx",
    "Telegram bot token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    "JWT": JWT,
    "Stripe key": "sk_live_Ab3dEf6hIj9kLm2nOp5qRs8t",
    "SendGrid key": "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",
}


@pytest.mark.parametrize(("name", "token"), list(TOKENS.items()), ids=list(TOKENS))
def test_api_keys_and_tokens_are_found_whole(name: str, token: str) -> None:
    text = f"Leaked in a headline: {token} (reported today)"
    finding = assert_finds(text, ViolationKind.TOKEN, token)
    assert finding.preview


def test_a_token_at_the_end_of_a_sentence_keeps_the_full_stop() -> None:
    token = TOKENS["GitHub classic token"]
    assert SCANNER.redact(f"the token was {token}.").text == "the token was [REDACTED:token]."


def test_a_password_in_a_url_is_found() -> None:
    text = "connect to postgresql://sigmax:Hunter2Secret@db:5432/sigmax now"
    assert_finds(text, ViolationKind.TOKEN, "Hunter2Secret")


def test_a_pem_private_key_block_is_redacted_whole() -> None:
    text = f"config dump:\n{PEM_KEY}\nend of dump"
    assert_finds(text, ViolationKind.PRIVATE_KEY, PEM_KEY)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("api_key: Zx9qT4mB7vK2pL8wRt5Y", "Zx9qT4mB7vK2pL8wRt5Y"),
        ('AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', None),
        ("the password is N7#q", None),
        ("Authorization: Bearer Zx9qT4mB7vK2pL8wRt5YcN3hJ6gF", "Zx9qT4mB7vK2pL8wRt5YcN3hJ6gF"),
        (
            "secret=3f9a1c0b7e5d2a8f4c6b9e0d1a3f5c7e9b2d4f6a",
            "3f9a1c0b7e5d2a8f4c6b9e0d1a3f5c7e9b2d4f6a",
        ),
    ],
)
def test_high_entropy_values_after_key_words_are_found(text: str, value: str | None) -> None:
    if value is None and "N7#q" in text:
        assert SCANNER.scan(text) == (), "a short value is no high-entropy string"
        return
    secret = value or "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert_finds(text, ViolationKind.TOKEN, secret)


@pytest.mark.parametrize(
    "text",
    [
        "key level 27123.45 held; the key question is volume",
        "token unlock schedule: 2023-10-01T00:00:00Z, tokenomics unchanged",
        "password rotation is recommended; passwords must be 16 characters",
        "authentication succeeded for the market data feed",
        "secret sauce: correcthorsebatterystaple",
    ],
)
def test_key_words_in_prose_are_not_secrets(text: str) -> None:
    assert SCANNER.scan(text) == ()


# --- Unicode: internationalised addresses, invisible characters, compatibility forms -------


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("write to jöhn@exämple.com today", "jöhn@exämple.com", ViolationKind.EMAIL),
        ("write to 用户@例子.广告 today", "用户@例子.广告", ViolationKind.EMAIL),
        ("mail bob@xn--exmple-cua.com now", "bob@xn--exmple-cua.com", ViolationKind.EMAIL),
        ("split bob\u200b@example.com here", "bob\u200b@example.com", ViolationKind.EMAIL),
        (
            "split bo\u200db@exa\u2060mple.com here",
            "bo\u200db@exa\u2060mple.com",
            ViolationKind.EMAIL,
        ),
        ("bidi b\u202eob@example.com\u202c end", "b\u202eob@example.com", ViolationKind.EMAIL),
        (
            "full-width ｏｐｓ＠ｓｉｇｍａｘ．ｉｏ ok",
            "ｏｐｓ＠ｓｉｇｍａｘ．ｉｏ",
            ViolationKind.EMAIL,
        ),
        ("decomposed jo\u0301hn@example.com", "jo\u0301hn@example.com", ViolationKind.EMAIL),
        (
            "call ＋４４ ２０ ７９４６ ０９５８ now",
            "＋４４ ２０ ７９４６ ０９５８",
            ViolationKind.PHONE,
        ),
        (
            "call +44\u00a020\u00a07946\u00a00958 now",
            "+44\u00a020\u00a07946\u00a00958",
            ViolationKind.PHONE,
        ),
        ("cell 555\u2011123\u20114567, ask", "555\u2011123\u20114567", ViolationKind.PHONE),
        (
            "card ４１１１ １１１１ １１１１ １１１１ ok",
            "４１１１ １１１１ １１１１ １１１１",
            ViolationKind.CARD_NUMBER,
        ),
        (
            "token gh\u200bp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c here",
            "gh\u200bp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
            ViolationKind.TOKEN,
        ),
    ],
)
def test_unicode_disguises_are_seen_through(text: str, secret: str, kind: ViolationKind) -> None:
    finding = only_finding(text)
    assert finding.kind is kind
    assert text[finding.start : finding.end] == secret
    assert SCANNER.redact(text).text == text.replace(secret, f"[REDACTED:{kind.value}]")


def test_a_configured_secret_split_by_an_invisible_character_is_found() -> None:
    scanner = PrivacyScanner(["sk_live_9f8e7d6c5b4a"])
    text = "key sk_live_9f8e\u200b7d6c5b4a leaked"
    assert scanner.redact(text).text == "key [REDACTED:secret] leaked"


@pytest.mark.parametrize(
    "text",
    [
        "BTC “broke out” — above 30000 × 1.5 ≥ target · ok",
        "Prix: 26 372,99 € — tendance baissière (RSI 28,4)",
        "比特币 价格 26372.99 USDT,成交量 1234.5",
        "naïve café résumé: ETH/USDT 1650.40 → 1700",
    ],
)
def test_non_ascii_market_text_is_not_flagged(text: str) -> None:
    assert SCANNER.scan(text) == ()


# --- redaction and overlaps ---------------------------------------------------------------


def test_redaction_of_mixed_text_is_exact() -> None:
    scanner = PrivacyScanner(["sk_live_9f8e7d6c5b4a"])
    phrase = MNEMONIC.to_mnemonic(bytes(16))
    text = (
        "User ops@sigmax.io (+1 (555) 123-4567) paid with 4111 1111 1111 1111; "
        f"api key sk_live_9f8e7d6c5b4a; wallet key 0x{HEX_KEY}; seed: {phrase}. "
        "RSI(14) 4h = 28.40 < 30 at 2023-10-01T00:00:00+00:00"
    )
    result = scanner.redact(text)
    assert result.text == (
        "User [REDACTED:email] ([REDACTED:phone]) paid with [REDACTED:card_number]; "
        "api key [REDACTED:secret]; wallet key [REDACTED:private_key]; "
        "seed: [REDACTED:seed_phrase]. RSI(14) 4h = 28.40 < 30 at 2023-10-01T00:00:00+00:00"
    )
    assert [v.kind for v in result.violations] == [
        ViolationKind.EMAIL,
        ViolationKind.PHONE,
        ViolationKind.CARD_NUMBER,
        ViolationKind.SECRET,
        ViolationKind.PRIVATE_KEY,
        ViolationKind.SEED_PHRASE,
    ]
    assert not result.clean
    # Nothing sensitive survives a second pass.
    assert scanner.scan(result.text) == ()


def test_clean_text_comes_back_unchanged() -> None:
    text = "HOLD BTC/USDT: confidence 0.42 below threshold 0.60"
    result = SCANNER.redact(text)
    assert result.text is text
    assert result.clean


def test_overlapping_findings_merge_into_the_longest_most_severe() -> None:
    # A configured secret that is itself a hex key: same span, the key is more severe.
    scanner = PrivacyScanner([HEX_KEY])
    finding = only_finding(f"k={HEX_KEY}", scanner)
    assert finding.kind is ViolationKind.PRIVATE_KEY
    # A secret straddling the end of an e-mail address: one redaction covers both, reported
    # as the secret (as long as the address, and more severe).
    scanner = PrivacyScanner(["sigmax.io and"])
    text = "x ops@sigmax.io and more"
    result = scanner.redact(text)
    assert result.text == "x [REDACTED:secret] more"
    assert len(result.violations) == 1
    assert (result.violations[0].start, result.violations[0].end) == (2, 19)


def test_findings_are_sorted_and_disjoint() -> None:
    text = " ".join(["4111111111111111", "ops@sigmax.io", "555-123-4567"] * 3)
    findings = SCANNER.scan(text)
    assert len(findings) == 9
    for earlier, later in itertools.pairwise(findings):
        assert earlier.end <= later.start


# --- no false positives on what a trading system writes -----------------------------------


def trading_corpus() -> list[str]:
    lines: list[str] = []
    step = 7 * 3_600_000  # every 7 hours: about 3,100 samples over the data range
    for ms in range(FIRST_MS, LAST_MS + 1, step):
        when = datetime.fromtimestamp(ms / 1000, tz=UTC)
        lines.append(
            f"candle BTC/USDT 1h open_time={ms} close_time={ms + 3_599_999} "
            f"iso={when.isoformat()} ({when:%Y-%m-%d %H:%M:%S}Z)"
        )
    lines += [
        "RSI(14) 4h = 28.40 < 30: oversold; MACD hist 1h = -12.50; ATR(14) = 412.33 "
        "(0.71% of price)",
        "BUY 0.00123400 BTC/USDT @ 58202.01 (notional 71.61 USDT, fee 0.07161 USDT)",
        "SELL 1.5 ETH/USDT at 1650.40, slippage 0.12%, PnL +12.34 USDT (+0.75%)",
        "price 0.00001234 SHIB/USDT, qty 81037277.15, 24h change -3.21%",
        "EMA(200) 1d = 27123.45; Bollinger(20, 2.0) upper 29876.54 lower 25432.10",
        "daily loss limit 50.00 USD, used 12.75 USD (25.50%); 3 consecutive losses",
        "order 8389765487654 clientOrderId x-ABCD1234EFGH5678 status FILLED",
        "orders 28457 28458 28459 filled in 1696114800000-1696118399999",
        "volume 1234567.89012345 quote 71900032416.25 trades 1048576",
        "2023-10-01T00:00:00.000Z close=26962.56 high=27100.00 low=26800.01",
        "latency researcher 12.5 ms, bull 8.25 ms, bear 9.00 ms, risk 0.75 ms",
        "decision 3f2b8c1e-9a4d-4c2b-8f1e-2a3b4c5d6e7f at 1617580800000",
        "sentiment -0.35 threshold; score 0.62 confidence 0.81 size $10",
    ]
    for i in range(200):
        lines.append(f"commit {hashlib.sha1(str(i).encode()).hexdigest()}")
        lines.append(f"request id {hashlib.md5(str(i).encode()).hexdigest()}")
        lines.append(f"trade {uuid.uuid5(uuid.NAMESPACE_OID, str(i))} done")
        price = 20_000 + i * 137.17
        lines.append(f"BTC/USDT {price:.2f} qty {i / 997:.8f} value {price * i / 997:.4f}")
    lines += MARKET_COMMENTARY
    return lines


def test_no_false_positives_on_a_realistic_trading_corpus() -> None:
    corpus = trading_corpus()
    assert len(corpus) > 3000
    flagged = [(line, SCANNER.scan(line)) for line in corpus if SCANNER.scan(line)]
    assert flagged == []
    # And as one big document, the way a log file or a report is screened.
    assert SCANNER.scan("\n".join(corpus)) == ()


@settings(max_examples=300, deadline=None)
@given(
    price=st.floats(min_value=1e-8, max_value=1e6, allow_nan=False, allow_infinity=False),
    decimals=st.integers(min_value=1, max_value=8),
    quantity=st.decimals(min_value=0, max_value=10**7, places=8),
    ms=st.integers(min_value=FIRST_MS, max_value=LAST_MS),
    percent=st.floats(min_value=-100, max_value=1000, allow_nan=False),
    order_id=st.integers(min_value=1, max_value=10**13),
)
def test_random_market_text_is_never_flagged(
    price: float, decimals: int, quantity: object, ms: int, percent: float, order_id: int
) -> None:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    text = (
        f"{when.isoformat()} BTC/USDT price {price:.{decimals}f} qty {quantity} "
        f"ts={ms} ({ms}) change {percent:+.2f}% order {order_id} "
        f"RSI(14) 4h = {percent / 10:.2f} < 30 at {when:%Y-%m-%d %H:%M:%S}+00:00"
    )
    assert SCANNER.scan(text) == ()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=40))
def test_random_price_lists_are_never_flagged(prices: list[float]) -> None:
    assert SCANNER.scan(" ".join(f"{p:.2f}" for p in prices)) == ()
    assert SCANNER.scan(", ".join(f"{p:.8f}" for p in prices)) == ()


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), prefix=st.sampled_from(["", "0x"]))
def test_any_64_hex_token_is_a_private_key(key: bytes, prefix: str) -> None:
    token = prefix + key.hex()
    assert only_finding(f"signer={token};").kind is ViolationKind.PRIVATE_KEY


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="0123456789 -.+()@_xKLc5abcdef\n\u00a0\u2713", max_size=30),
            st.sampled_from(
                ["4111 1111 1111 1111", "ops@sigmax.io", "+1 (555) 123-4567", "abandon", HEX_KEY]
            ),
        ),
        max_size=12,
    )
)
def test_findings_are_always_ordered_disjoint_and_never_echoed(pieces: list[str]) -> None:
    text = "".join(pieces)
    findings = SCANNER.scan(text)
    for finding in findings:
        assert 0 <= finding.start < finding.end <= len(text)
        assert finding.preview
        assert text[finding.start : finding.end] not in finding.preview
    for earlier, later in itertools.pairwise(findings):
        assert earlier.end <= later.start
    redacted = SCANNER.redact(text)
    assert redacted.violations == findings
    assert all(f"[REDACTED:{f.kind.value}]" in redacted.text for f in findings)


# --- robustness and speed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a@" * 5000,
        "+1 " * 5000,
        "0" * 20000,
        "4111 " * 5000,
        "abandon " * 5000,
        "w" * 20000,
        "abcdefgh " * 5000,
    ],
)
def test_pathological_inputs_finish_quickly(text: str) -> None:
    started = time.perf_counter()
    SCANNER.scan(text)
    assert time.perf_counter() - started < 1.0


def test_a_clean_2kb_explanation_scans_in_microseconds() -> None:
    explanation = (
        "BUY BTC/USDT: RSI(14) 4h = 28.40 < 30: oversold; MACD hist 1h = -12.50; "
        "ATR(14) = 412.33 (0.71% of price); close 58202.01 at 2021-04-05T00:00:00Z "
        "(1617580800000); size 0.00017181 BTC ($10.00); order 8389765487654; "
        "decision 3f2b8c1e-9a4d-4c2b-8f1e-2a3b4c5d6e7f; "
    )
    text = (explanation * (2048 // len(explanation) + 1))[:2048]
    scanner = PrivacyScanner(["sk_live_9f8e7d6c5b4a", "postgres://sigmax:s3cr3t@db/sigmax"])
    assert scanner.scan(text) == ()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(200):
            scanner.scan(text)
        runs.append((time.perf_counter() - started) / 200)
    # Measured at 30-40 us on a busy shared 2-core machine; the bound only catches a regression
    # such as a pattern starting to walk the whole text.
    assert min(runs) < 500e-6
