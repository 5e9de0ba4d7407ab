"""pass@k, cons@k and summarize against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from r1.eval.metrics import cons_at_k, majority_cluster, pass_at_k, summarize


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (4, 2, 1, 0.5),
        (4, 2, 2, 5 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6
        (5, 1, 2, 0.4),  # 1 - C(4,2)/C(5,2) = 1 - 6/10
        (10, 3, 4, 1 - 35 / 210),  # 1 - C(7,4)/C(10,4)
        (4, 0, 1, 0.0),
        (4, 0, 4, 0.0),
        (4, 4, 1, 1.0),
        (4, 4, 3, 1.0),
        (4, 1, 4, 1.0),  # k = n: any correct sample -> 1
        (4, 3, 2, 1.0),  # n - c < k
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
    ],
)
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_binomial_formula_and_is_stable():
    for n in range(1, 30):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-9)
    # Large n: no overflow, still in [0, 1] and close to the exact value.
    assert pass_at_k(1000, 5, 64) == pytest.approx(1 - math.comb(995, 64) / math.comb(1000, 64), rel=1e-9)


@pytest.mark.parametrize(("n", "c", "k"), [(4, 2, 0), (4, 2, 5), (4, 5, 1), (0, 0, 1), (4, -1, 1)])
def test_pass_at_k_rejects_invalid(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_pass_at_k_never_falls_as_k_grows():
    for n in (4, 8, 16):
        for c in range(n + 1):
            values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
            assert values == sorted(values)
            assert values[0] == pytest.approx(c / n)


def test_cons_at_k_majority_over_hand_clusters():
    # \frac{1}{2}, 0.3, 0.5, 0.3, 1/2: three forms of one half (cluster 0) beat two 0.3s (cluster 1).
    assert cons_at_k([0, 1, 0, 1, 0], [True, False, True, False, True]) is True
    assert cons_at_k([0, 1, 0, 1, 0], [False, True, False, True, False]) is False


def test_cons_at_k_with_the_grader_clusters():
    from r1.grading import cluster_answers, grade_batch

    answers = ["\\frac{1}{2}", "0.3", "0.5", "0.3", "1/2"]
    clusters = cluster_answers(answers, mode="lenient")
    assert clusters[0] == clusters[2] == clusters[4] != clusters[1] == clusters[3]
    correct = [g.correct for g in grade_batch([f"\\boxed{{{a}}}" for a in answers], ["\\frac{1}{2}"] * 5)]
    assert correct == [True, False, True, False, True]
    assert cons_at_k(clusters, correct) is True


def test_cons_at_k_single_sample_and_no_answer():
    assert cons_at_k([0], [True]) is True
    assert cons_at_k([0], [False]) is False
    assert cons_at_k([None], [False]) is False  # nobody answered -> wrong
    assert cons_at_k([None, None, 3], [False, False, True]) is True  # None does not vote
    assert cons_at_k([0, 0], [None, None]) is None  # unusable reference
    with pytest.raises(ValueError):
        cons_at_k([0, 1], [True])


def test_cons_at_k_ties_go_to_the_first_appearing_cluster():
    assert majority_cluster([0, 1, 1, 0]) == 0
    assert cons_at_k([0, 1, 1, 0], [False, True, True, False]) is False
    assert cons_at_k([1, 0, 0, 1], [True, False, False, True]) is True
    # Three-way tie with a later majority-free run: cluster 7 appears first.
    assert cons_at_k([7, 2, 5, 5, 2, 7], [True, False, False, False, False, True]) is True
    # A strict majority beats an earlier cluster.
    assert cons_at_k([0, 1, 1], [True, False, False]) is False


def _frame() -> pd.DataFrame:
    rows = []
    spec = {  # problem: (correct, n_tokens, truncated, format_ok, language, cluster)
        "p1": ([True, False], [10, 20], [False, True], [True, True], [1.0, 0.5], [0, 1]),
        "p2": ([True, True], [30, 40], [False, False], [True, False], [1.0, 1.0], [0, 0]),
        "p3": (
            [None, None],
            [50, 60],
            [False, False],
            [False, False],
            [1.0, 1.0],
            [0, 0],
        ),  # unparseable gold
        "p4": ([False, False], [70, 80], [True, True], [False, False], [0.0, 0.0], [None, None]),
    }
    for pid, cols in spec.items():
        for j, (c, t, tr, f, lang, cl) in enumerate(zip(*cols, strict=True)):
            rows.append(
                {
                    "problem_id": pid,
                    "sample_idx": j,
                    "correct": c,
                    "n_tokens": t,
                    "truncated": tr,
                    "format_ok": f,
                    "language_consistency": lang,
                    "cluster_id": cl,
                }
            )
    return pd.DataFrame(rows)


def test_summarize_hand_frame():
    s = summarize(_frame(), pass_ks=(1, 2, 4), mode="lenient")
    assert s["n_problems"] == 4
    assert s["n_problems_graded"] == 3
    assert s["n_samples"] == 8
    assert s["k"] == 2
    assert s["pass@1"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert s["pass@2"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert "pass@4" not in s  # k > samples per problem
    assert s["cons@2"] == pytest.approx(2 / 3)  # p1 tie -> first cluster (correct), p2 correct, p4 no answer
    assert s["mean_length"] == pytest.approx(45.0)
    assert s["median_length"] == pytest.approx(45.0)
    assert s["truncation_rate"] == pytest.approx(3 / 8)
    assert s["format_rate"] == pytest.approx(3 / 8)
    assert s["language_consistency"] == pytest.approx(5.5 / 8)
    assert s["n_unparseable_gold"] == 2
    assert s["grader_mode"] == "lenient"


def test_summarize_accepts_nullable_boolean_and_order_independent():
    df = _frame()
    df["correct"] = df["correct"].astype("boolean")
    df["cluster_id"] = df["cluster_id"].astype("Int64")
    a = summarize(df, pass_ks=(1, 2), mode="strict")
    b = summarize(df.sample(frac=1, random_state=3), pass_ks=(1, 2), mode="strict")
    assert a == b
    assert a["pass@1"] == pytest.approx(0.5) and a["n_unparseable_gold"] == 2 and a["grader_mode"] == "strict"


def test_summarize_pass1_does_not_fall_as_k_grows_on_same_data():
    df = _frame()
    s = summarize(df, pass_ks=(1, 2))
    assert s["pass@1"] <= s["pass@2"]


def test_summarize_clusters_from_extracted_answers():
    df = pd.DataFrame(
        {
            "problem_id": ["a"] * 5,
            "sample_idx": range(5),
            "extracted": ["\\frac{1}{2}", "0.3", "0.5", "0.3", "1/2"],
            "correct": [True, False, True, False, True],
            "n_tokens": [5] * 5,
            "truncated": [False] * 5,
        }
    )
    s = summarize(df, mode="lenient")
    assert s["cons@5"] == 1.0 and s["pass@1"] == pytest.approx(0.6)
    assert s["format_rate"] is None and s["language_consistency"] is None


def test_summarize_rejects_ragged_or_incomplete_frames():
    df = _frame()
    with pytest.raises(ValueError, match="different sample counts"):
        summarize(df.iloc[:-1])
    with pytest.raises(ValueError, match="lacks columns"):
        summarize(df.drop(columns=["n_tokens"]))
