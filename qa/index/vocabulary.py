"""A text's distinct words, held compactly.

A set, a dict or a list of str costs some 60-100 bytes a word; 4.9 MB of nearly all distinct words (a
dump, a word list, a language that inflects much) made 575,000 of them, kept three times over (BM25
terms, chunk frequencies, words written in lower case): 262 MB held after that one upload (in-process),
153 MB since. Here the words are one string, sorted, and an array of where each starts: a few bytes a
word, found by binary search.
Texts with more than BIG distinct words are kept this way beside the shared dicts, not in them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Iterator

import numpy as np

BIG = 20_000  # distinct words above which a text's words stay in its own Vocabulary (4.9 MB of English prose has some 36,000)


class Vocabulary:
    """Sorted distinct words without a newline in them (tokens, terms). Up to BIG words, a list (searched
    by bisect in C); above, one string and where each word starts in it."""

    __slots__ = ("_list", "_blob", "_starts")

    def __init__(self, words: list[str], *, joined: str | None = None) -> None:
        """From sorted distinct words, or (`joined`) the same already joined by newlines, each ending in one."""
        self._list: list[str] | None = words if joined is None and len(words) <= BIG else None
        self._blob, self._starts = "", array("i", [0])
        if self._list is None:
            # no string a word on the way: 575,000 of them were the peak of a 4.9 MB upload
            self._blob = joined if joined is not None else "\n".join(words) + "\n"
            blob = self._blob
            chars = np.frombuffer(blob.encode("ascii"), np.uint8) if blob.isascii() else np.frombuffer(blob.encode("utf-32-le"), np.uint32)
            ends = np.flatnonzero(chars == 10).astype(np.int32) + 1
            self._starts = array("i", np.concatenate((np.zeros(1, np.int32), ends)).tobytes())

    @property
    def compact(self) -> bool:
        return self._list is None

    def __len__(self) -> int:
        return len(self._list) if self._list is not None else len(self._starts) - 1

    def __iter__(self) -> Iterator[str]:
        return iter(self._list if self._list is not None else self._blob.split("\n")[:-1])

    def index(self, word: str) -> int:
        """Where `word` is, or -1."""
        if self._list is not None:
            i = bisect_left(self._list, word)
            return i if i < len(self._list) and self._list[i] == word else -1
        lo, hi = 0, len(self)
        starts, blob = self._starts, self._blob
        while lo < hi:
            mid = (lo + hi) // 2
            w = blob[starts[mid] : starts[mid + 1] - 1]
            if w < word:
                lo = mid + 1
            elif w > word:
                hi = mid
            else:
                return mid
        return -1

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.index(word) >= 0

    def encode(self) -> bytes:
        """The words joined by newlines, as the caches have always stored a sorted list."""
        return ("\n".join(self._list) if self._list is not None else self._blob[:-1]).encode()

    @classmethod
    def decode(cls, data: bytes) -> "Vocabulary":
        if data.count(b"\n") >= BIG:  # not split into a list of str only to be joined again
            return cls([], joined=data.decode() + "\n")
        return cls(data.decode().split("\n") if data else [])
