"""WordNet synonyms and antonyms for training-time question rewrites, read straight from Debian's
`wordnet-base` files (/usr/share/wordnet). Only `evals.train_answer_model` uses it; nothing shipped does.
Without the files it answers nothing, and training runs without those rewrites (the card says which)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

WORDNET_DIR = Path("/usr/share/wordnet")
_POS = ("noun", "verb", "adj", "adv")


def _plain(word: str) -> bool:
    return word.isalpha() and word.islower()


class WordNet:
    """Each word's most frequent sense only (the first synset its index lists): without word-sense
    disambiguation, rarer senses give nonsense ("first" -> "low" via "first gear")."""

    def __init__(self, root: Path = WORDNET_DIR) -> None:
        self.synonyms: dict[str, list[str]] = {}
        self.antonyms: dict[str, list[str]] = {}
        self.available = all((root / f"data.{p}").is_file() and (root / f"index.{p}").is_file() for p in _POS)
        if self.available:
            for p in _POS:
                self._read(root, p, synonyms=p != "adv")  # adverbs' first senses swap meaning ("still" -> "quiet")

    def _read(self, root: Path, pos: str, *, synonyms: bool) -> None:
        synsets: dict[str, tuple[list[str], list[tuple[str, int, int]]]] = {}
        for line in (root / f"data.{pos}").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue  # the licence header
            head = line.split(" | ")[0].split()
            n_words = int(head[3], 16)
            words = [head[4 + 2 * i].lower().split("(")[0] for i in range(n_words)]
            at = 4 + 2 * n_words
            ants = []
            for i in range(int(head[at])):
                symbol, target, _, st = head[at + 1 + 4 * i : at + 5 + 4 * i]
                if symbol == "!":
                    ants.append((target, int(st[:2], 16), int(st[2:], 16)))
            synsets[head[0]] = (words, ants)
        for line in (root / f"index.{pos}").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            lemma, n_ptr = parts[0], int(parts[3])
            offsets = parts[6 + n_ptr :]
            if not _plain(lemma) or not offsets or offsets[0] not in synsets:
                continue
            words, ants = synsets[offsets[0]]
            subs = [w for w in words if w != lemma and _plain(w)]
            if subs and synonyms:
                self.synonyms.setdefault(lemma, []).extend(s for s in subs if s not in self.synonyms.get(lemma, []))
            for target, src, dst in ants:
                if src and words[src - 1] == lemma and target in synsets:
                    other = synsets[target][0][dst - 1]
                    if _plain(other):
                        self.antonyms.setdefault(lemma, []).append(other)


@lru_cache(maxsize=1)
def wordnet() -> WordNet:
    return WordNet()
