"""Generate-and-filter: every dropped sample has a reason; kept samples are reformatted to think + summary."""

from __future__ import annotations

import pandas as pd
import pytest

from r1.filters import (
    TooFewSamples,
    apply_filters,
    drop_counts,
    select_samples,
    sft_rows,
    to_reasoning_summary,
)

GOOD = "<think>\nI add 2 and 3 to get 5.\n</think>\n<answer>5</answer>"


def frame(rows):
    base = {
        "id": "x",
        "problem": "What is 2 + 3?",
        "answer": "5",
        "language": "en",
        "truncated": False,
        "extracted": "5",
    }
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
            "max_repetition": 0.3,
            "min_language_consistency": 0.9,
            "drop_truncated": True,
            "drop_code_blocks": True,
        },
    )
    assert out["reason"].fillna("kept").tolist() == [
        "kept",
        "incorrect",
        "no_reference",
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


def samples(n_correct: int, n_wrong: int, n_noref: int, n_noref_dirty: int = 0) -> pd.DataFrame:
    rows = (
        [{"id": f"ok{i}", "completion": GOOD, "correct": True, "n_tokens": 10} for i in range(n_correct)]
        + [{"id": f"bad{i}", "completion": GOOD, "correct": False, "n_tokens": 1} for i in range(n_wrong)]
        + [
            {
                "id": f"free{i}",
                "problem": "Write a haiku.",
                "answer": "",
                "completion": "Quiet pond; a frog.",
                "correct": None,
                "n_tokens": 5 + i,
                "instruction": "",
            }
            for i in range(n_noref)
        ]
        + [
            {"id": f"dirty{i}", "answer": "", "completion": "again " * 50, "correct": None, "n_tokens": 2}
            for i in range(n_noref_dirty)
        ]
    )
    return apply_filters(frame(rows), {"max_repetition": 0.3})


def test_too_few_verified_samples_fail_loudly_with_the_counts():
    with pytest.raises(TooFewSamples) as err:
        select_samples(samples(2, 5, 3), "distill", min_examples=4)
    msg = str(err.value)
    assert "distill: only 2 verified samples (of 10: 5 incorrect, 3 without a usable reference" in msg
    assert "distill.min_examples is 4" in msg and "distill.fill: unreferenced" in msg


def test_fill_uses_clean_unreferenced_samples_never_incorrect_ones():
    filtered = samples(2, 5, 3, n_noref_dirty=2)
    kept, counts = select_samples(filtered, "distill", min_examples=4, fill="unreferenced")
    assert kept["id"].tolist() == ["ok0", "ok1", "free0", "free1"]  # the shortest clean unreferenced first
    assert kept["verified"].tolist() == [True, True, False, False]
    assert kept["reference"].tolist() == [True, True, False, False]
    assert not kept["correct"].eq(False).any()
    assert counts == {
        "samples": 12,
        "verified": 2,
        "incorrect": 5,
        "no_reference": 5,
        "no_reference_clean": 3,
        "failed_filters": 0,
        "filled_unreferenced": 2,
        "min_examples": 4,
        "fill": "unreferenced",
    }
    rows = sft_rows(kept)
    assert rows["reference"].tolist() == [True, True, False, False]
    assert rows["prompt"].iloc[2] == "Write a haiku."  # no math instruction for a prompt without a reference
    assert rows["completion"].iloc[2] == "Quiet pond; a frog."  # kept as generated
    assert rows["completion"].iloc[0].startswith("<think>")
    # still too few after filling: fail, naming the fill
    with pytest.raises(TooFewSamples, match="filled with 3 clean unreferenced samples"):
        select_samples(filtered, "cold_start", min_examples=9, fill="unreferenced")


def test_enough_verified_samples_need_no_fill():
    kept, counts = select_samples(samples(4, 5, 3), "rejection_sampling", min_examples=4, fill="unreferenced")
    assert kept["verified"].all() and len(kept) == 4 and counts["filled_unreferenced"] == 0


def _distill_job(tmp_path, shards: list[pd.DataFrame], **cfg):
    from r1.rulekit import JobSpec

    paths = []
    for k, df in enumerate(shards):
        paths.append(str(tmp_path / f"shard_{k}.parquet"))
        df.drop(columns=["keep", "reason", "quality_reason"]).to_parquet(paths[-1])
    return JobSpec(
        target="r1.stages.distill:distill_dataset",
        rule="distill_dataset",
        input={"shards": paths},
        output={"dataset": [str(tmp_path / "dataset.parquet")], "stats": [str(tmp_path / "stats.json")]},
        params={"cfg": {"num_shards": len(shards), "keep": "verified", "filters": {}, "fill": "none", **cfg}},
    )


def test_distill_dataset_stage_fails_or_fills_but_never_trains_on_incorrect(tmp_path):
    import json

    from r1.stages.distill import distill_dataset

    shards = [samples(1, 3, 0), samples(0, 2, 4)]  # 1 verified, 5 incorrect, 4 without a reference
    with pytest.raises(
        TooFewSamples, match="only 1 verified samples .*5 incorrect, 4 without a usable reference"
    ):
        distill_dataset(_distill_job(tmp_path, shards, min_examples=3))
    assert not (tmp_path / "dataset.parquet").exists()

    distill_dataset(_distill_job(tmp_path, shards, min_examples=3, fill="unreferenced"))
    data = pd.read_parquet(tmp_path / "dataset.parquet")
    assert len(data) == 3 and data["verified"].tolist() == [True, False, False]
    assert not data["id"].str.startswith("bad").any()
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["verified_rows"] == 1 and stats["unreferenced_rows"] == 2
    assert stats["selected"]["incorrect"] == 5
