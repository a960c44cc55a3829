"""A text's distinct words, held compactly.

A set, a dict or a list of str costs some 60-100 bytes a word; 4.9 MB of nearly all distinct words (a
dump, a word list, a language that inflects much) made 575,000 of them, kept three times over (BM25
terms, chunk frequencies, words written in lower case): 262 MB held after that one upload (in-process),
153 MB since. Here the words are one string, sorted, and an array of where each starts: a few bytes a
word, found by binary search.
Texts with more than BIG distinct words are kept this way beside the shared dicts, not in them.

Counting them (`Tally`) past BIG words holds no str per word either: a dict numbering 575,000 words
cost some 75 MB while it lived, and freed among longer-lived objects it left the heap fragmented.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from typing import Collection, Iterator

import numpy as np

BIG = 20_000  # distinct words above which a text's words stay in its own Vocabulary (4.9 MB of English prose has some 36,000)


class Vocabulary:
    """Sorted distinct words without a newline in them (tokens, terms). Up to BIG words, a list (searched
    by bisect in C); above, one string and where each word starts in it."""

    __slots__ = ("_list", "_blob", "_starts")

    def __init__(self, words: list[str], *, joined: str | None = None, starts: array | None = None) -> None:
        """From sorted distinct words, or (`joined`) the same already joined by newlines, each ending in one
        (and `starts`, where each begins and the end, when the caller has them)."""
        self._list: list[str] | None = words if joined is None and len(words) <= BIG else None
        self._blob, self._starts = "", array("i", [0])
        if self._list is None and starts is not None and joined is not None:
            self._blob, self._starts = joined, starts
        elif self._list is None:
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

    def encode(self) -> bytes | memoryview:
        """The words joined by newlines, as the caches have always stored a sorted list."""
        if self._list is not None:
            return "\n".join(self._list).encode()
        return memoryview(self._blob.encode())[:-1]  # not a copy of the blob first to drop its last newline

    @classmethod
    def decode(cls, data: bytes) -> "Vocabulary":
        if data.count(b"\n") >= BIG:  # not split into a list of str only to be joined again
            return cls([], joined=data.decode() + "\n")
        return cls(data.decode().split("\n") if data else [])


class Tally:
    """Words added group by group (a chunk's tokens), numbered by where they fall among the distinct
    words once all are in. Up to BIG distinct words, a dict numbers them as they come; past it, each
    word is kept as its hash (an int64) and, once per batch of distinct words, in a sorted string
    joining them, the batches merged at the end: no str is held per distinct word at any time."""

    _FLUSH = 65_536  # distinct words of a batch held as str before they are joined
    _LOOKUP = 65_536  # words looked up at once among the distinct words' hashes

    def __init__(self, *, numbered: bool = True) -> None:
        """`numbered=False`: only the distinct words are wanted (`words()`), not every word's number."""
        self._numbered = numbered
        self._number: dict[str, int] | None = {}  # word -> first-seen number, until BIG words
        self._ids = array("q")  # every word added (when numbered): its number, or past BIG its hash
        self._kept: list[str] = []  # the batches' distinct words, sorted, each joined by newlines
        self._batch: dict[str, None] = {}

    def add(self, words: Collection[str]) -> None:
        """One group's words (read twice: not an iterator)."""
        if (number := self._number) is not None:
            if self._numbered:
                self._ids.extend([number.setdefault(w, len(number)) for w in words])
            else:
                number.update(dict.fromkeys(words, 0))  # only which words: no numbers wanted
            if len(number) > BIG:
                self._by_hash()
            return
        if self._numbered:
            self._ids.extend(map(hash, words))
        self._batch.update(dict.fromkeys(words))
        if len(self._batch) >= self._FLUSH:
            self._flush()

    def _by_hash(self) -> None:
        """From numbers to hashes: the dict's words become the first batch."""
        assert self._number is not None
        self._batch, hashes = dict.fromkeys(self._number), np.fromiter(map(hash, self._number), np.int64, count=len(self._number))
        self._ids = array("q", hashes[np.frombuffer(self._ids, np.int64)].tobytes())
        self._number = None
        self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._kept.append("\n".join(sorted(self._batch)))
            self._batch = {}

    def words(self) -> Vocabulary:
        """The distinct words alone (the lower-case words need no numbering)."""
        if self._number is not None:
            return Vocabulary(sorted(self._number))
        joined, starts, _ = self._merged()
        return Vocabulary([], joined=joined, starts=starts)

    def finish(self) -> tuple[Vocabulary, np.ndarray]:
        """The distinct words, and every word added (in the order added) as its place among them. Once:
        the words added are let go, not held while the caller works on."""
        assert self._numbered, "an unnumbered tally has only its words()"
        ids, self._ids = np.frombuffer(self._ids, np.int64), array("q")
        if (number := self._number) is not None:
            words = sorted(number)
            rank = np.empty(len(words), dtype=np.int64)  # first-seen number -> place in sorted order
            rank[np.fromiter((number[w] for w in words), dtype=np.int64, count=len(words))] = np.arange(len(words))
            return Vocabulary(words), rank[ids]
        joined, starts, hashes = self._merged()
        # looked up a block at a time among the distinct hashes: np.unique over every word held five
        # copies of them at once (30 MB of a 4.9 MB upload's peak)
        order = np.argsort(hashes, kind="stable")  # place in hash order -> place in word order
        hashes.sort()  # in place: hashes[order] without a copy of them
        for start in range(0, len(ids), self._LOOKUP):  # each hash replaced by its place, in place
            block = ids[start : start + self._LOOKUP]
            block[:] = order[np.searchsorted(hashes, block)]
        # a hash shared by two words (some 1 in 10^8 for 575,000 of them) would number both as one
        return Vocabulary([], joined=joined, starts=starts), ids

    def _merged(self) -> tuple[str, array, np.ndarray]:
        """Past BIG: the batches merged one str at a time, joined (each word ending in a newline), where
        each word starts in that (and the end), and (when numbered) each word's hash in that order."""
        self._flush()
        pieces, run, hashes, starts, last = [], [], array("q"), array("i", [0]), None
        for word in heapq.merge(*map(_split, self._kept)):
            if word != last:
                run.append(word)
                if self._numbered:
                    hashes.append(hash(word))
                starts.append(starts[-1] + len(word) + 1)
                last = word
                if len(run) >= 8192:
                    pieces.append("\n".join(run) + "\n")
                    run.clear()
        if run:
            pieces.append("\n".join(run) + "\n")
        self._kept.clear()
        return "".join(pieces), starts, np.frombuffer(hashes, np.int64)


def _split(joined: str) -> Iterator[str]:
    """The words of `joined` (newline-separated), one str at a time."""
    start = 0
    while (end := joined.find("\n", start)) >= 0:
        yield joined[start:end]
        start = end + 1
    yield joined[start:]
