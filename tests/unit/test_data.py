"""Data stage: schema, quarantine with reasons, dedupe, decontamination, deterministic split."""

from __future__ import annotations

import json

import pytest

from r1.data import build_dataset, load_source, procedural_rows

BENCH = [
    {
        "name": "gsm8k",
        "path": "r1/assets/benchmarks/gsm8k/test.jsonl",
        "problem_field": "question",
        "answer_field": "answer",
        "answer_format": "gsm8k",
        "solution_field": "answer",
    }
]
GSM8K_Q0 = (
    "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per "
    "fresh duck egg. How much in dollars does she make every day at the farmers' market?"
)


@pytest.fixture
def user_source(tmp_path):
    rows = [
        {"q": "What is 2 + 3?", "a": "5"},
        {"q": "", "a": "1"},  # empty problem -> quarantine
        {"q": "What is 4 + 4?", "a": None},  # missing answer -> quarantine
        {"q": "what is 2 + 3 ?", "a": "5"},  # duplicate after normalisation
        {
            "q": GSM8K_Q0.upper().replace(".", " ."),
            "a": "18",
        },  # planted benchmark question (case/punct changed)
        {"q": "A train travels 60 km in 1.5 hours. What is its average speed in km/h?", "a": "40"},
    ]
    path = tmp_path / "user.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {
        "name": "user",
        "kind": "file",
        "path": str(path),
        "problem_field": "q",
        "answer_field": "a",
        "domain": "math",
        "language": "en",
    }


def test_file_source_quarantines_invalid_rows_with_file_row_and_field(user_source):
    good, bad = load_source(user_source, seed=0)
    assert len(good) == 4 and len(bad) == 2
    assert {b["row"] for b in bad} == {1, 2}
    assert {b["field"] for b in bad} == {"q", "a"}
    assert all(user_source["path"] in b["reason"] for b in bad)


def test_build_dataset_dedupes_and_drops_the_planted_benchmark_question(user_source):
    train, evals, quarantine, contamination, stats = build_dataset(
        [user_source], BENCH, seed=0, eval_fraction=0.0
    )
    assert list(train.columns)[:7] == [
        "id",
        "source",
        "problem",
        "answer",
        "domain",
        "difficulty",
        "language",
    ]
    assert len(train) == 2 and evals.empty
    assert len(quarantine) == 2
    assert contamination["benchmark_id"].tolist() == ["gsm8k:0"]
    assert stats["user"] == {
        "rows_in": 6,
        "quarantined": 2,
        "duplicates": 1,
        "contaminated": 1,
        "kept": 2,
        "train": 2,
        "eval": 0,
    }


def test_contaminated_rows_are_kept_but_listed_when_drop_is_false(user_source):
    train, _, _, contamination, _ = build_dataset(
        [user_source], BENCH, seed=0, eval_fraction=0.0, drop_contaminated=False
    )
    assert len(train) == 3 and contamination["dropped"].tolist() == [False]


def test_split_is_deterministic_and_disjoint():
    src = {"name": "arith", "kind": "procedural", "generator": "arithmetic", "size": 200}
    a = build_dataset([src], BENCH, seed=3, eval_fraction=0.2)
    b = build_dataset([src], BENCH, seed=3, eval_fraction=0.2)
    assert a[0]["id"].tolist() == b[0]["id"].tolist()
    assert not set(a[0]["id"]) & set(a[1]["id"])
    assert 10 <= len(a[1]) <= 70


def test_procedural_arithmetic_reasoning_reaches_the_answer():
    for row in procedural_rows("arithmetic", 50, seed=1, min_terms=2, max_terms=4):
        assert eval(row["problem"].removeprefix("What is ").rstrip("?")) == int(row["answer"])  # noqa: S307
        assert row["reasoning"].endswith(f"So the result is {row['answer']}.")


def test_reasoning_gym_source_is_seeded():
    spec = {"name": "cs", "kind": "reasoning_gym", "generator": "chain_sum", "size": 5}
    assert load_source(spec, 0)[0] == load_source(spec, 0)[0]
    assert load_source(spec, 0)[0] != load_source(spec, 1)[0]


def test_drop_false_means_checked_and_kept_on_every_path(user_source):
    """decontaminate_rows (SFT files, cold start, rejection sampling) with `drop: false` still finds the
    planted benchmark question, reports it and keeps it, as build_dataset does for the prompt data."""
    import pandas as pd

    from r1.data import decontaminate_rows

    rows = pd.DataFrame({"prompt": ["What is 2 + 3?", GSM8K_Q0.upper()], "completion": ["5", "18"]})
    for drop in (True, False):
        kept, contaminated = decontaminate_rows(
            rows, "prompt", {"benchmarks": BENCH, "ngram": 10, "drop": drop}
        )
        assert contaminated["benchmark_id"].tolist() == ["gsm8k:0"] and contaminated["dropped"].tolist() == [
            drop
        ]
        assert len(kept) == (1 if drop else 2)
    _, _, _, contamination, _ = build_dataset(
        [user_source], BENCH, seed=0, eval_fraction=0.0, drop_contaminated=False
    )
    assert contamination["dropped"].tolist() == [False] and len(contamination) == 1
