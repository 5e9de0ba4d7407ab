"""Generate-and-filter: every dropped sample has a reason; kept samples are reformatted to think + summary."""

from __future__ import annotations

import pandas as pd

from r1.filters import apply_filters, drop_counts, to_reasoning_summary

GOOD = "<think>\nI add 2 and 3 to get 5.\n</think>\n<answer>5</answer>"


def frame(rows):
    base = {"id": "x", "problem": "What is 2 + 3?", "answer": "5", "language": "en", "truncated": False}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_each_filter_drops_with_its_reason():
    df = frame(
        [
            {"completion": GOOD, "correct": True},
            {"completion": GOOD.replace("5", "6"), "correct": False},
            {"completion": GOOD, "correct": None},
            {"completion": "<think>" + "the same words again " * 40 + "</think> 5", "correct": True},
            {"completion": "<think>我们 先 计算 二 加 三 等于 五 所以 答案 是 五</think> 5", "correct": True},
            {"completion": GOOD, "correct": True, "truncated": True},
            {"completion": "<think>```python\nprint(5)\n```</think> 5", "correct": True},
        ]
    )
    out = apply_filters(
        df,
        {
            "require_correct": True,
            "max_repetition": 0.3,
            "min_language_consistency": 0.9,
            "drop_truncated": True,
            "drop_code_blocks": True,
        },
    )
    assert out["reason"].fillna("kept").tolist() == [
        "kept",
        "incorrect",
        "unparseable_gold",
        "repetition",
        "language_mixing",
        "truncated",
        "code_block",
    ]
    counts = drop_counts(out)
    assert counts["kept"] == 1 and counts["n_samples"] == 7 and counts["dropped_incorrect"] == 1


def test_reformat_to_reasoning_and_boxed_summary():
    text = to_reasoning_summary(GOOD, "5")
    assert text.startswith("<think>\nI add 2 and 3 to get 5.\n</think>")
    assert "\\boxed{5}" in text and "<answer>" not in text
