"""Word n-gram decontamination of training data against evaluation items (paper: 10-gram overlap filter).

Texts are normalised to words (`normalize_words`): lower-cased, LaTeX commands (``\\frac``, ``\\left``, ...)
and GSM8K calculator annotations (``<<9*2=18>>``) dropped, every non-alphanumeric character treated as a
separator (so punctuation, ``$``, braces, case and spacing changes do not hide a copy). The index maps each
n-gram (a tuple of n words: no false positives from hash collisions) to the eval items holding it.

When a training text counts as contaminated (`min_overlap`):
- `min_overlap` 0: it shares any n-gram with an eval item (the paper's rule). On competition data this
  over-removes: boilerplate such as "where m and n are relatively prime positive integers find m n" is
  shared by hundreds of unrelated AIME and MATH problems.
- `min_overlap` f > 0 (r1's default 0.5): it shares at least a fraction f of one eval item's distinct n-grams,
  or at least f of its own distinct n-grams are in one eval item (a near-duplicate or a copy, in either
  direction). A shared boilerplate phrase is a few percent of a problem's n-grams; a reworded or renumbered
  copy of the problem is most of them.
Short texts: a text with fewer than n words has no n-gram. Such a training text matches only when its whole
normalised text equals an eval item's whole normalised text; an eval item with fewer than n words is likewise
matched only by a training text equal to it as a whole, or by one whole line of a training text (a prompt puts
the problem on its own line above the instruction: "What is 20 + 10?\nPlease reason step by step, ..."), never
as a substring of a line (short phrases are common).
Ties: the item with the larger overlap wins, then the first in `eval_items` order. A text is first tested
with one C-level `isdisjoint` over its n-gram stream; only texts that share an n-gram are scored.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PAPER_NGRAM = 10  # the paper's overlap filter: any 10 consecutive words shared with an eval item
DEFAULT_MIN_OVERLAP = 0.5  # r1's near-duplicate rule (module docstring); 0 = the paper's any shared n-gram
_LATEX_CMD = re.compile(r"\\[a-zA-Z]+")
_GSM8K_CALC = re.compile(r"<<[^<>]*>>")  # GSM8K calculator annotations: "$<<9*2=18>>18"
_WORD = re.compile(r"[^\W_]+")
# ASCII fast path (2-3x faster than the regex): non-alphanumerics -> space, upper -> lower, then split.
_ASCII_TABLE = {i: " " for i in range(128) if not chr(i).isalnum()}
_ASCII_TABLE.update({ord(ch): ch.lower() for ch in string.ascii_uppercase})


def normalize_words(text: str) -> list[str]:
    """Lower-cased words with LaTeX commands and all punctuation removed (see module docstring)."""
    if not text:
        return []
    if "\\" in text:
        text = _LATEX_CMD.sub(" ", text)
    if "<<" in text:
        text = _GSM8K_CALC.sub(" ", text)
    if text.isascii():
        return text.translate(_ASCII_TABLE).split()
    # Mostly-ASCII text: same fast split, then the regex only on the few tokens that are not alphanumeric.
    words = []
    for token in text.lower().translate(_ASCII_TABLE).split():
        if token.isalnum():
            words.append(token)
        else:
            words.extend(_WORD.findall(token))
    return words


def _ngrams(words: list[str], n: int):
    return zip(*(words[i:] for i in range(n)), strict=False)


@dataclass
class NgramIndex:
    """n-gram (tuple of n words) -> ids of the eval items holding it, each item's distinct n-gram count, and
    whole-text -> id for the short-text rule."""

    n: int
    ngrams: dict[tuple[str, ...], list[str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    whole: dict[str, str] = field(default_factory=dict)
    n_items: int = 0

    def __len__(self) -> int:
        return len(self.ngrams)

    def get(self, ngram: tuple[str, ...]) -> str | None:
        ids = self.ngrams.get(tuple(ngram))
        return ids[0] if ids else None


def build_ngram_index(eval_items: Mapping[str, str], n: int = PAPER_NGRAM) -> NgramIndex:
    """Index every word n-gram of every eval item (id -> text, e.g. {"gsm8k:17": question})."""
    if n < 1:
        raise ValueError(f"build_ngram_index: n must be >= 1 (got {n})")
    index = NgramIndex(n=n)
    for item_id, text in eval_items.items():
        words = normalize_words(text)
        if not words:
            continue
        index.order[item_id] = index.n_items
        index.n_items += 1
        index.whole.setdefault(" ".join(words), item_id)
        grams = set(_ngrams(words, n))
        index.sizes[item_id] = len(grams)
        for gram in grams:
            index.ngrams.setdefault(gram, []).append(item_id)
    return index


def _whole_match(text: str, words: list[str], index: NgramIndex) -> tuple[str, float] | None:
    """The short-text rule (module docstring): the whole text, else one of its lines, equals an eval item."""
    hit = index.whole.get(" ".join(words))
    if hit is None and "\n" in text:
        hit = next(
            (h for line in text.splitlines() if (h := index.whole.get(" ".join(normalize_words(line))))), None
        )
    return (hit, 1.0) if hit is not None else None


def contamination_score(text: str, index: NgramIndex) -> tuple[str, float] | None:
    """(eval item id, overlap in [0, 1]) of the item `text` overlaps most, or None when nothing is shared.

    overlap = shared distinct n-grams / the smaller of the item's and the text's distinct n-gram counts;
    1.0 for the short-text (whole item) rule."""
    words = normalize_words(text)
    if not words:
        return None
    if len(words) < index.n:
        return _whole_match(text, words, index)
    grams = index.ngrams
    if grams.keys().isdisjoint(_ngrams(words, index.n)):
        return _whole_match(text, words, index)
    mine = set(_ngrams(words, index.n))
    shared: dict[str, int] = {}
    for gram in mine:
        for item in grams.get(gram, ()):
            shared[item] = shared.get(item, 0) + 1
    best = max(
        shared,
        key=lambda i: (shared[i] / min(index.sizes[i], len(mine)), -index.order[i]),
    )
    return best, shared[best] / min(index.sizes[best], len(mine))


def find_contamination(
    text: str, index: NgramIndex, n: int | None = None, min_overlap: float = 0.0
) -> str | None:
    """The id of the eval item `text` is contaminated by (see the module docstring), else None."""
    n = index.n if n is None else n
    if n != index.n:
        raise ValueError(f"find_contamination: index was built with n={index.n}, asked for n={n}")
    scored = contamination_score(text, index)
    if scored is None or scored[1] < min_overlap:
        return None
    return scored[0]


def find_contamination_batch(
    texts: Iterable[str], index: NgramIndex, min_overlap: float = 0.0
) -> list[str | None]:
    return [find_contamination(t, index, min_overlap=min_overlap) for t in texts]
