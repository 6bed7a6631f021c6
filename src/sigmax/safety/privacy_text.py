"""The text the privacy screen reads: NFKC-normalised, with invisible characters removed.

A secret can hide from a pattern behind characters a reader never sees or that only look like
the usual ones: an address split by a zero-width space (``bob\u200b@example.com``), a bidi
control reordering a number, full-width digits (``４１１１``), a non-breaking space or a
Unicode dash inside a phone number. The screen therefore reads a *view* of the text in which

* zero-width characters, soft hyphens and bidi controls are removed;
* every other character is NFKC-normalised together with the combining marks that follow it
  (so ``e`` + combining acute becomes ``é``, ``４`` becomes ``4``, a no-break space a space);
* Unicode dashes and minus signs become ``-`` and decimal digits of every script their ASCII
  digit (``٤١١١`` is ``4111``).

Each character of the view remembers the span of the original text it came from, so a finding
in the view redacts exactly the original characters, invisible ones inside it included.
ASCII text is its own view: the common case costs one ``str.isascii`` call.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["INVISIBLE_CHARACTERS", "TextView", "view_of"]

#: Removed from the view: zero-width characters, the soft hyphen, the word joiner, the byte
#: order mark, the Mongolian vowel separator and every bidi control (marks, embeddings,
#: overrides, isolates).
INVISIBLE_CHARACTERS = frozenset(
    "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

# Dashes (Unicode category Pd) and minus signs read as "-": phone and card groups are often
# joined by them in text pasted from documents.
# The em dash and the horizontal bar are left alone: prose uses them between words, never
# inside a number.
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2212\ufe58\ufe63\uff0d\u2043\u058a\u05be")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True, slots=True)
class TextView:
    """The normalised text and, per character, the original span it came from.

    ``starts`` and ``ends`` are None when the view is the original text itself.
    """

    text: str
    starts: tuple[int, ...] | None
    ends: tuple[int, ...] | None

    @property
    def is_original(self) -> bool:
        return self.starts is None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text behind ``view.text[start:end]`` (``end > start``)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def view_of(text: str) -> TextView:
    """The view the privacy screen reads (see the module's doc)."""
    if text.isascii() or (unicodedata.is_normalized("NFKC", text) and not _has_foldable(text)):
        return TextView(text, None, None)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    length = len(text)
    for run in _NON_ASCII.finditer(text):
        first = run.start()
        # A combining mark composes with the ASCII letter before it: take that letter along.
        if first > cursor and unicodedata.combining(text[first]):
            first -= 1
        # ASCII is its own view: copy it with an identity mapping, at C speed.
        pieces.append(text[cursor:first])
        starts.extend(range(cursor, first))
        ends.extend(range(cursor + 1, first + 1))
        cursor = _view_of_run(text, first, run.end(), pieces, starts, ends)
    pieces.append(text[cursor:])
    starts.extend(range(cursor, length))
    ends.extend(range(cursor + 1, length + 1))
    return TextView("".join(pieces), tuple(starts), tuple(ends))


def _has_foldable(text: str) -> bool:
    """True when a non-ASCII character of ``text`` is invisible, a dash or a digit to fold."""
    for run in _NON_ASCII.finditer(text):
        for char in run.group():
            if (
                char in INVISIBLE_CHARACTERS
                or char in _DASHES
                or unicodedata.decimal(char, None) is not None
            ):
                return True
    return False


def _view_of_run(
    text: str, position: int, stop: int, pieces: list[str], starts: list[int], ends: list[int]
) -> int:
    """Append the view of ``text[position:stop]``; returns where the next stretch starts."""
    length = len(text)
    while position < stop:
        char = text[position]
        if char in INVISIBLE_CHARACTERS:
            position += 1
            continue
        # A base character and the combining marks after it normalise together (composition);
        # invisible characters between them are dropped.
        end = position + 1
        cluster = [char]
        while end < length and (
            unicodedata.combining(text[end]) or text[end] in INVISIBLE_CHARACTERS
        ):
            if text[end] not in INVISIBLE_CHARACTERS:
                cluster.append(text[end])
            end += 1
        joined = "".join(cluster)
        normalised = joined if joined.isascii() else _normalise(joined)
        pieces.append(normalised)
        starts.extend([position] * len(normalised))
        ends.extend([end] * len(normalised))
        position = end
    return position


def _normalise(cluster: str) -> str:
    normalised = unicodedata.normalize("NFKC", cluster)
    if not normalised.isascii():
        normalised = "".join(_fold(char) for char in normalised)
    # NFKC may itself produce a character we drop (rare compatibility forms): keep the view
    # free of them.
    return "".join(char for char in normalised if char not in INVISIBLE_CHARACTERS)


def _fold(char: str) -> str:
    """A dash as ``-``, a decimal digit of any script as its ASCII digit, else the character."""
    if char in _DASHES:
        return "-"
    digit = unicodedata.decimal(char, None)
    return str(digit) if digit is not None else char
