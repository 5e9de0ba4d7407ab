"""Word n-gram decontamination of training data against evaluation items (paper: 10-gram overlap filter).

Texts are normalised to words (`normalize_words`): lower-cased, LaTeX commands (``\\frac``, ``\\left``, ...)
and GSM8K calculator annotations (``<<9*2=18>>``) dropped, every non-alphanumeric character treated as a
separator (so punctuation, ``$``, braces, case and spacing changes do not hide a copy). A training text is
contaminated when it shares any n consecutive words with an eval item. The index is a hash set of n-gram
tuples (the tuples are the keys, so there are no false positives from hash collisions); a text is tested with
one C-level `isdisjoint` over its n-gram stream, and only on a hit is the matching n-gram located to name the
eval item.

Short texts: a text with fewer than n words has no n-gram. Such a training text matches only when its whole
normalised text equals an eval item's whole normalised text; an eval item with fewer than n words is likewise
matched only by a training text equal to it as a whole (never as a substring: short phrases are common).
When several eval items share an n-gram, the index keeps the first item in `eval_items` order; when a text
matches several items, the first matching n-gram in the text decides.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PAPER_NGRAM = 10  # the paper's overlap filter: any 10 consecutive words shared with an eval item
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
    """n-gram (tuple of n words) -> eval item id, plus whole-text -> id for the short-text rule."""

    n: int
    ngrams: dict[tuple[str, ...], str] = field(default_factory=dict)
    whole: dict[str, str] = field(default_factory=dict)
    n_items: int = 0

    def __len__(self) -> int:
        return len(self.ngrams)

    def get(self, ngram: tuple[str, ...]) -> str | None:
        return self.ngrams.get(tuple(ngram))


def build_ngram_index(eval_items: Mapping[str, str], n: int = PAPER_NGRAM) -> NgramIndex:
    """Index every word n-gram of every eval item (id -> text, e.g. {"gsm8k:17": question + solution})."""
    if n < 1:
        raise ValueError(f"build_ngram_index: n must be >= 1 (got {n})")
    index = NgramIndex(n=n)
    for item_id, text in eval_items.items():
        words = normalize_words(text)
        if not words:
            continue
        index.n_items += 1
        index.whole.setdefault(" ".join(words), item_id)
        for gram in _ngrams(words, n):
            index.ngrams.setdefault(gram, item_id)
    return index


def find_contamination(text: str, index: NgramIndex, n: int | None = None) -> str | None:
    """The id of the eval item `text` overlaps with (n-gram or short-text rule), else None."""
    n = index.n if n is None else n
    if n != index.n:
        raise ValueError(f"find_contamination: index was built with n={index.n}, asked for n={n}")
    words = normalize_words(text)
    if not words:
        return None
    if len(words) < n:
        return index.whole.get(" ".join(words))
    grams = index.ngrams
    if grams.keys().isdisjoint(_ngrams(words, n)):
        return None
    for gram in _ngrams(words, n):
        hit = grams.get(gram)
        if hit is not None:
            return hit
    return None  # pragma: no cover - isdisjoint said there is a hit


def find_contamination_batch(texts: Iterable[str], index: NgramIndex) -> list[str | None]:
    return [find_contamination(t, index) for t in texts]


def benchmark_eval_items(
    names: Iterable[str] = ("gsm8k", "math500"),
    include_solutions: bool = True,
    solution_fields: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Eval items of the default benchmarks as {"<benchmark>:<problem id>": problem [+ solution]}.

    The paper filters against eval questions and solutions; solutions are read from `solution_fields`
    (defaults: GSM8K's ``answer``, MATH-500's ``solution``).
    """
    from r1.benchmarks import DEFAULT_BENCHMARKS, load_benchmark, read_rows

    solution_fields = dict({"gsm8k": "answer", "math500": "solution"}, **(solution_fields or {}))
    items: dict[str, str] = {}
    for name in names:
        spec = DEFAULT_BENCHMARKS[name]
        df = load_benchmark(spec)
        solutions = [""] * len(df)
        if include_solutions and name in solution_fields:
            rows = read_rows(spec.path)[: len(df)]
            solutions = [str(r.get(solution_fields[name]) or "") for r in rows]
        for pid, problem, solution in zip(df["id"], df["problem"], solutions, strict=True):
            items[f"{name}:{pid}"] = f"{problem}\n{solution}" if solution else problem
    return items
