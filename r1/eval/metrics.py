"""Evaluation metrics over per-sample records: pass@k (unbiased), cons@k (majority vote), lengths, rates.

Conventions (all accuracies are fractions in [0, 1]):

- ``pass@1`` is the paper's metric: mean correctness over the k samples of a problem, averaged over problems.
- ``pass@k`` uses the unbiased estimator of Chen et al. 2021, 1 - C(n-c, k) / C(n, k), per problem, averaged.
- ``cons@k`` is majority voting over the k samples' answer clusters (equivalent answers share a cluster).
  Samples with no extracted answer (cluster None) do not vote; a problem where nobody answered counts as
  wrong.
  Ties go to the tied cluster that appears first in sample order. The vote is correct when the winning
  cluster's first sample is correct.
- Samples whose ``correct`` is None (the reference could not be parsed) are excluded from every accuracy
  metric and counted in ``n_unparseable_gold``; a problem with no gradable sample is dropped from accuracy
  (``n_problems_graded`` says how many remain). Length, truncation, format and language metrics use every
  sample.
- ``mean_length`` / ``median_length`` are response lengths in generated tokens (EOS excluded).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd


def wilson_ci95(successes: float, n: int) -> tuple[float, float]:
    """Wilson score interval (95%) for a binomial proportion: sane at 0 and 1, unlike the normal one."""
    if n <= 0:
        return (0.0, 1.0)
    z = 1.959963984540054
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, round(centre - half, 12)), min(1.0, round(centre + half, 12)))


def diff_ci95(s1: float, n1: int, s2: float, n2: int) -> tuple[float, float]:
    """95% interval of p1 - p2 for two independent proportions (Newcombe's hybrid score interval, method 10:
    from the two Wilson intervals; conservative when both are measured on the same problems)."""
    p1, p2 = s1 / n1, s2 / n2
    (l1, u1), (l2, u2) = wilson_ci95(s1, n1), wilson_ci95(s2, n2)
    d = p1 - p2
    return (
        round(d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), 12),
        round(d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), 12),
    )


def pass1_ci95(per_problem: list[float], k: int) -> tuple[float, float]:
    """95% CI of pass@1 (the mean over problems of each problem's fraction of correct samples).

    k == 1: Wilson interval over problems. k > 1: problems are the independent unit (samples of one problem
    are correlated), so the interval is the normal one over the per-problem means (standard error
    sd/sqrt(n)), clipped to [0, 1].
    """
    n = len(per_problem)
    if n == 0:
        return (0.0, 1.0)
    mean = sum(per_problem) / n
    var = sum((x - mean) ** 2 for x in per_problem) / (n - 1) if n > 1 else 0.0
    if k <= 1 or var == 0.0:  # all problems alike (e.g. all 0): the normal interval would collapse
        return wilson_ci95(sum(per_problem), n)
    half = 1.959963984540054 * math.sqrt(var / n)
    return (max(0.0, mean - half), min(1.0, mean + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with n samples of which c are correct (Chen et al. 2021).

    1 - C(n-c, k)/C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i) which never forms big binomials.
    """
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        n, c, k = int(n), int(c), int(k)
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need n >= 1 and 0 <= c <= n (got n={n}, c={c})")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 1 <= k <= n (got k={k}, n={n})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def majority_cluster(cluster_ids: Sequence[int | None]) -> int | None:
    """Index (into cluster_ids) of the first sample of the winning cluster; None when no sample answered.

    Tie rule: among clusters with the highest count, the one whose first sample comes earliest wins.
    """
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for i, cid in enumerate(cluster_ids):
        if cid is None or (isinstance(cid, float) and math.isnan(cid)) or cid is pd.NA:
            continue
        counts[cid] = counts.get(cid, 0) + 1
        first.setdefault(cid, i)
    if not counts:
        return None
    best = max(counts.values())
    winner = min((cid for cid, c in counts.items() if c == best), key=first.__getitem__)
    return first[winner]


def cons_at_k(cluster_ids: Sequence[int | None], correct: Sequence[bool | None]) -> bool | None:
    """Majority vote: is the most frequent answer cluster correct? (tie rule: see `majority_cluster`).

    Returns False when no sample produced an answer, None when the winner's correctness is unknown.
    """
    if len(cluster_ids) != len(correct):
        raise ValueError(f"cons_at_k: {len(cluster_ids)} cluster ids but {len(correct)} correctness values")
    if not cluster_ids:
        raise ValueError("cons_at_k: no samples")
    idx = majority_cluster(cluster_ids)
    if idx is None:
        return False
    value = correct[idx]
    if _is_null(value):
        return None
    return bool(value)


def _is_null(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _optional(value):
    return None if _is_null(value) else value


REQUIRED_COLUMNS = ("problem_id", "correct", "n_tokens", "truncated")


def summarize(samples: pd.DataFrame, pass_ks: Iterable[int] = (1,), mode: str | None = None) -> dict:
    """Aggregate per-sample records (one row per sample) into the metric dict.

    Required columns: problem_id, correct (bool or None), n_tokens, truncated. Optional: sample_idx (orders
    the vote), cluster_id (else computed from `extracted` with r1.grading.cluster_answers in `mode`),
    extracted, format_ok, language_consistency. Every problem must have the same number of samples k.
    `pass@k` is reported for every k in pass_ks with k <= samples per problem (pass@1 always).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"summarize: samples frame lacks columns {missing} (has {list(samples.columns)})")
    if samples.empty:
        raise ValueError("summarize: no samples")
    df = samples.reset_index(drop=True)
    if "sample_idx" in df.columns:
        df = df.sort_values(["sample_idx"], kind="stable")
    groups = list(df.groupby("problem_id", sort=False))
    sizes = {len(g) for _, g in groups}
    if len(sizes) != 1:
        raise ValueError(f"summarize: problems have different sample counts {sorted(sizes)}; expected one k")
    k = sizes.pop()
    ks = sorted({1, *(int(x) for x in pass_ks)})
    if any(x < 1 for x in ks):
        raise ValueError(f"summarize: pass_ks must be >= 1 (got {list(pass_ks)})")
    ks = [x for x in ks if x <= k]

    if "cluster_id" in df.columns:
        clusters_by_problem = {pid: [_optional(v) for v in g["cluster_id"]] for pid, g in groups}
    elif "extracted" in df.columns:
        from r1.grading import DEFAULT_MODE, cluster_answers

        clusters_by_problem = {
            pid: cluster_answers([_optional(v) for v in g["extracted"]], mode=mode or DEFAULT_MODE)
            for pid, g in groups
        }
    else:
        clusters_by_problem = None

    per_problem_pass1: list[float] = []
    pass_sums = {x: 0.0 for x in ks}
    pass_counts = {x: 0 for x in ks}
    cons_sum, cons_count = 0, 0
    n_unparseable = 0
    n_graded_problems = 0
    n_graded_samples = 0
    for pid, g in groups:
        correct = [_optional(v) for v in g["correct"]]
        graded = [bool(v) for v in correct if v is not None]
        n_unparseable += len(correct) - len(graded)
        if not graded:
            continue
        n_graded_problems += 1
        n_graded_samples += len(graded)
        n, c = len(graded), sum(graded)
        per_problem_pass1.append(c / n)
        for x in ks:
            if x <= n:
                pass_sums[x] += pass_at_k(n, c, x)
                pass_counts[x] += 1
        if clusters_by_problem is not None:
            vote = cons_at_k(clusters_by_problem[pid], correct)
            if vote is not None:
                cons_sum += int(vote)
                cons_count += 1

    def mean_or_none(total, count):
        return total / count if count else None

    out: dict = {
        "n_problems": len(groups),
        "n_problems_graded": n_graded_problems,
        "n_samples": len(df),
        "k": k,
    }
    for x in ks:
        out[f"pass@{x}"] = mean_or_none(pass_sums[x], pass_counts[x])
    lo, hi = pass1_ci95(per_problem_pass1, k) if per_problem_pass1 else (None, None)
    out["pass@1_ci95_lo"], out["pass@1_ci95_hi"] = lo, hi
    out[f"cons@{k}"] = mean_or_none(cons_sum, cons_count) if clusters_by_problem is not None else None
    tokens = pd.to_numeric(df["n_tokens"])
    out["mean_length"] = float(tokens.mean())
    out["median_length"] = float(tokens.median())
    out["truncation_rate"] = float(df["truncated"].astype(bool).mean())
    out["format_rate"] = _mean_col(df, "format_ok")
    out["language_consistency"] = _mean_col(df, "language_consistency")
    out["timeout_rate"] = _mean_col(df, "timed_out")
    out["n_unparseable_gold"] = n_unparseable
    out["grader_mode"] = mode
    return out


def _mean_col(df: pd.DataFrame, col: str) -> float | None:
    if col not in df.columns:
        return None
    values = pd.to_numeric(df[col].map(lambda v: None if _is_null(v) else float(v)), errors="coerce").dropna()
    return float(values.mean()) if len(values) else None
