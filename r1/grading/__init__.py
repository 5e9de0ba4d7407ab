"""Answer extraction and equivalence grading (strict | lenient) with hard timeouts for untrusted output.

extract_answer(text, chain)      -> the marked final answer, or None
is_equivalent(pred, gold, mode)  -> True/False, None for an unusable reference (in-process, no timeout)
grade_batch(completions, golds)  -> [GradeResult], extraction + equivalence in killable workers
cluster_answers(answers)         -> cluster ids for majority voting (cons@k)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from r1.grading.extract import DEFAULT_CHAIN, EXTRACTORS, extract_answer
from r1.grading.normalize import (
    DEFAULT_MODE,
    DEFAULT_TIMEOUT_S,
    MODES,
    as_int,
    as_number,
    has_leading_zero,
    normalize,
)
from r1.grading.pool import POOL, default_workers

__all__ = [
    "DEFAULT_CHAIN",
    "MODES",
    "GradeResult",
    "cluster_answers",
    "extract_answer",
    "grade_batch",
    "is_equivalent",
    "warm_pool",
]


@dataclass
class GradeResult:
    extracted: str | None
    correct: bool | None  # None: the reference is unusable, skip the sample
    timed_out: bool
    mode: str

    def to_dict(self) -> dict:
        return asdict(self)


def is_equivalent(pred: str | None, gold: str, mode: str = DEFAULT_MODE) -> bool | None:
    """Is the extracted answer `pred` equivalent to the reference `gold` under `mode` (strict | lenient)?

    None when `gold` is empty or unusable (skip the sample, never count it correct); False when pred is None.
    In-process, without timeout protection: grade untrusted output with `grade_batch`. (math-verify and
    sympy are imported on first use, so importing r1.grading stays cheap.)
    """
    from r1.grading.equivalence import is_equivalent as _is_equivalent

    return _is_equivalent(pred, gold, mode)


def check_chain(mode: str, chain: Sequence[str]) -> tuple[str, ...]:
    """The extractor chain as a tuple; ValueError naming an unknown mode or extractor."""
    if mode not in MODES:
        raise ValueError(f"unknown equivalence mode {mode!r}; known: {list(MODES)}")
    chain = (chain,) if isinstance(chain, str) else tuple(chain)
    unknown = [name for name in chain if name not in EXTRACTORS]
    if unknown:
        raise ValueError(f"unknown extractor(s) {unknown}; known: {sorted(EXTRACTORS)}")
    return chain


def _as_text(completion) -> str | None:
    """A completion string, or the last message's content of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return completion.get("content") if isinstance(completion.get("content"), str) else None
    if isinstance(completion, list) and completion:
        return _as_text(completion[-1])
    return None


PROGRESS_CHUNK = 512  # items per pool call when a progress bar is shown


def grade_batch(
    completions: list[str],
    golds: list[str],
    mode: str = DEFAULT_MODE,
    chain: Sequence[str] = DEFAULT_CHAIN,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    workers: int | None = None,
    desc: str | None = None,
) -> list[GradeResult]:
    """Extract and grade untrusted completions in worker processes with a hard per-item timeout.

    Callable from any thread (batches are serialised). A timed-out or crashed item gets correct=False,
    timed_out=True, and its worker is replaced. Always uses the (warm, reused) worker pool: even a
    one-item batch costs only a round trip, and a skipped pool would lose the hard timeout. With `desc`,
    a progress bar (r1.progress) counts graded items, in chunks of PROGRESS_CHUNK.
    """
    chain = check_chain(mode, chain)
    if len(completions) != len(golds):
        raise ValueError(f"grade_batch: {len(completions)} completions but {len(golds)} golds")
    golds = ["" if g is None else g if isinstance(g, str) else str(g) for g in golds]
    tasks = [("grade", _as_text(c), g, mode, chain) for c, g in zip(completions, golds, strict=True)]
    if desc is None:
        results = POOL.run(tasks, timeout_s, workers)
    else:
        from r1.progress import progress

        results = []
        with progress(desc=desc, total=len(tasks), unit="item") as bar:
            for start in range(0, len(tasks), PROGRESS_CHUNK):
                chunk = tasks[start : start + PROGRESS_CHUNK]
                results += POOL.run(chunk, timeout_s, workers)
                bar.update(len(chunk))
    return [GradeResult(extracted=e, correct=c, timed_out=t, mode=mode) for e, c, t in results]


def warm_pool(workers: int | None = None) -> None:
    """Start the grading workers now, so the first reward call does not pay the ~1 s start-up."""
    POOL.warm(workers or default_workers())


_MAX_KEY_CHARS = 500


def _cluster_key(answer: str) -> str:
    s = answer.strip()
    return normalize(s) if len(s) <= _MAX_KEY_CHARS else s


def _fast_equal(a: str, b: str, a_raw: str, b_raw: str, mode: str) -> bool | None:
    """is_equivalent(a, b) for plain-number pairs (normalised keys), decided in-process; else None."""
    if any("%" in x or "percent" in x.lower() for x in (a_raw, b_raw)):
        return None
    if mode == "strict":
        if "frac" in a or "frac" in b:
            return None
        b_int = as_int(b)
        if b_int is not None:  # an integer reference needs an integer answer, without zero padding
            a_int = as_int(a)
            return a_int is not None and a_int == b_int and not has_leading_zero(a)
    na, nb = as_number(a), as_number(b)
    if na is None or nb is None:
        return None
    if mode == "strict" or na == nb or nb.denominator == 1:  # an integer reference: exact value only
        return na == nb
    return abs(na - nb) <= 1e-4 * max(abs(na), abs(nb))


def cluster_answers(
    answers: list[str | None], mode: str = DEFAULT_MODE, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[int | None]:
    """Cluster ids (0, 1, ... in order of first appearance) for majority voting; None answers get None.

    Answers whose normalised strings are equal share an id; the remaining unique answers are compared
    with the grader (`is_equivalent(later, earlier)`, in the worker pool under the hard timeout, except
    plain-number pairs, decided in-process) and joined greedily to the first equivalent representative.
    Percent signs are stripped by normalisation, so in lenient mode `50\\%` and `50` share a cluster.
    """
    check_chain(mode, DEFAULT_CHAIN)
    unique: list[str] = []
    key_to_unique: dict[str, int] = {}
    unique_of: list[int | None] = []
    for a in answers:
        if not isinstance(a, str) or not a.strip():
            unique_of.append(None)
            continue
        key = _cluster_key(a)
        if key not in key_to_unique:
            key_to_unique[key] = len(unique)
            unique.append(a)
        unique_of.append(key_to_unique[key])

    keys = [_cluster_key(u) for u in unique]
    equal: dict[tuple[int, int], bool] = {}
    tasks, pairs = [], []
    for j in range(len(unique)):
        for i in range(j):
            fast = _fast_equal(keys[j], keys[i], unique[j], unique[i], mode)
            if fast is None:
                tasks.append(("eq", unique[j], unique[i], mode))
                pairs.append((i, j))
            else:
                equal[(i, j)] = fast
    if tasks:
        for pair, (_, correct, _) in zip(pairs, POOL.run(tasks, timeout_s), strict=True):
            equal[pair] = correct is True

    cluster_of_unique: list[int] = []
    reps: list[int] = []  # unique index of each cluster's representative
    for j in range(len(unique)):
        for cluster_id, r in enumerate(reps):
            if equal[(r, j)]:
                cluster_of_unique.append(cluster_id)
                break
        else:
            cluster_of_unique.append(len(reps))
            reps.append(j)
    return [None if u is None else cluster_of_unique[u] for u in unique_of]
