"""The sentiment scorer on real headlines, labelled by hand, with where each was published.

Accuracy is the share of headlines whose sign (VADER's thresholds: >= 0.05 positive, <= -0.05
negative, else neutral) matches the label. The figure is in docs/PERFORMANCE.md; this test
keeps it from getting worse, and shows the crypto lexicon is what earns it over plain VADER.
"""

from __future__ import annotations

from typing import Final

from sigmax.research.sentiment import SentimentScorer, label

#: (headline, label, where it was published)
HEADLINES: Final = (
    (
        "Bitcoin price surges above $45,000 for first time since April 2022 on ETF approval hopes",
        "positive",
        "Livemint, 2024-01-02",
    ),
    (
        "Bitcoin hits record high as UK opens crypto exchange-traded products",
        "positive",
        "KYMA (NBC), 2024-03-11",
    ),
    (
        "Bitcoin hits new record high, surges beyond $70,000",
        "positive",
        "Republic World, 2024-03-08",
    ),
    (
        "Huge Surge in Bitcoin Price Prompts Speculation of US ETF Approval",
        "positive",
        "Daily Cryptosis, 2023-10",
    ),
    (
        "Anticipation for ETF to track bitcoin drives crypto to $60k",
        "positive",
        "Financial News, 2021-10-15",
    ),
    ("Bitcoin hits record high", "positive", "Semafor, 2024-03-05"),
    (
        "Bitcoin Breaks $45,000 Mark, Approaching Two-Year High",
        "positive",
        "Charltons Quantum, 2024-01",
    ),
    (
        "Bitcoin experienced a brief surge to a new record high, surpassing $70,000",
        "positive",
        "zagolrestaurant.com (syndicated), 2024-03",
    ),
    (
        "Bitcoin tumbles more than 50% below its all-time high as crypto plunges again",
        "negative",
        "CNN, 2022-05-09",
    ),
    (
        "Bitcoin Price Plummets: $1T Wiped Out, Market Volatility Spikes",
        "negative",
        "Feedzop",
    ),
    (
        "Bitcoin has shed almost $800 billion since its October peak. What's behind the plunge?",
        "negative",
        "CBS News",
    ),
    (
        "Rollercoaster: Bitcoin Dumped to 6-Week Low, Dogecoin Plunges 12% (Market Watch)",
        "negative",
        "CryptoPotato via Bitcoin Insider, 2022-04",
    ),
    (
        "Bitcoin news – live: Dramatic price crash hits BTC amid growing fears of ‘crypto winter’",
        "negative",
        "The Independent via Yahoo Finance, 2022",
    ),
    (
        "Bitcoin falls below $70,000. Why this crypto crisis is starting to get scary.",
        "negative",
        "news search listing (Dow Jones Market Data figures)",
    ),
    (
        "FTX Collapse Worsens After a $600 Million Hack And Criminal Charges",
        "negative",
        "Investopedia, 2022-11",
    ),
    (
        "FTX says $415 million of crypto was hacked from its accounts",
        "negative",
        "Tech Startups, 2023-01-18",
    ),
    (
        "Crypto Exchange Bankruptcies: Spectacular And Ever Constant",
        "negative",
        "Athena Alpha, 2024",
    ),
    ("The biggest crypto bankruptcies", "negative", "BestChange blog"),
)

#: The accuracy measured with the crypto lexicon (docs/PERFORMANCE.md); never lower.
MIN_ACCURACY: Final = 17 / 18


def _accuracy(scorer: SentimentScorer) -> tuple[float, list[str]]:
    wrong = [h for h, want, _ in HEADLINES if label(scorer.compound(h)) != want]
    return 1 - len(wrong) / len(HEADLINES), wrong


def test_the_lexicon_scores_real_headlines_as_labelled() -> None:
    accuracy, wrong = _accuracy(SentimentScorer())
    assert accuracy >= MIN_ACCURACY, wrong


def test_plain_vader_does_worse_so_the_lexicon_is_what_is_measured() -> None:
    plain, _ = _accuracy(SentimentScorer(lexicon={}))
    with_lexicon, _ = _accuracy(SentimentScorer())
    assert plain < with_lexicon
