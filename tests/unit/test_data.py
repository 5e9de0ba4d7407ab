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


# ------------------------------------------------------------------ real data, hf sources, near-duplicates
GSM8K_TRAIN = "r1/assets/data/gsm8k/train.jsonl"
GSM8K_SPEC = {
    "name": "gsm8k_train",
    "kind": "file",
    "path": GSM8K_TRAIN,
    "problem_field": "question",
    "answer_field": "answer",
    "answer_format": "gsm8k",
}


def test_shipped_gsm8k_train_matches_its_source_note():
    import hashlib
    from pathlib import Path

    note = Path("r1/assets/data/gsm8k/SOURCE.txt").read_text()
    digest = hashlib.sha256(Path(GSM8K_TRAIN).read_bytes()).hexdigest()
    assert f"sha256: {digest}" in note and "license: MIT" in note
    good, bad = load_source(GSM8K_SPEC, seed=0)
    assert len(good) == 7473 and not bad
    assert good[0]["answer"] == "72" and all("," not in g["answer"] for g in good)


def test_file_source_size_is_a_seeded_sample_and_solutions_become_reasoning():
    spec = {**GSM8K_SPEC, "size": 20, "solution_field": "answer"}
    a, _ = load_source(spec, seed=0)
    assert len(a) == 20 and a == load_source(spec, seed=0)[0] and a != load_source(spec, seed=1)[0]
    assert all("####" not in g["reasoning"] and "<<" not in g["reasoning"] for g in a)


def test_hf_source_from_a_local_dataset_directory(tmp_path):
    (tmp_path / "ds" / "data").mkdir(parents=True)
    rows = [
        {"q": "What is 6 * 7?", "a": "42", "lvl": "Level 1"},
        {"q": "What is 1 + 1?", "a": "", "lvl": "Level 2"},
    ]
    (tmp_path / "ds" / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "local_hf",
        "kind": "hf",
        "dataset": str(tmp_path / "ds"),
        "split": "train",
        "revision": "main",
        "problem_field": "q",
        "answer_field": "a",
        "difficulty_field": "lvl",
    }
    good, bad = load_source(spec, seed=0)
    assert [(g["id"], g["answer"], g["difficulty"]) for g in good] == [("local_hf:0", "42", "Level 1")]
    assert bad[0]["field"] == "a" and f"hf:{tmp_path / 'ds'}@main: row 1" in bad[0]["reason"]
    with pytest.raises(ValueError, match="cannot load hf dataset .*split 'test'"):
        load_source({**spec, "split": "test"}, seed=0)


def test_json_array_source(tmp_path):
    path = tmp_path / "aime.json"
    path.write_text(json.dumps([{"problem": "Find $m+n$.", "answer": "25", "difficulty": 4.0}]))
    spec = {
        "name": "aime",
        "kind": "file",
        "path": str(path),
        "problem_field": "problem",
        "answer_field": "answer",
    }
    good, _ = load_source({**spec, "difficulty_field": "difficulty"}, seed=0)
    assert good[0]["answer"] == "25" and good[0]["difficulty"] == "4.0"


def _source(tmp_path, name, questions):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"q": q, "a": "1"}) + "\n" for q in questions))
    return {"name": name, "kind": "file", "path": str(path), "problem_field": "q", "answer_field": "a"}


def test_near_duplicates_are_dropped_but_shared_boilerplate_is_not(tmp_path):
    test_q = {r["question"] for r in map(json.loads, open("r1/assets/benchmarks/gsm8k/test.jsonl"))}
    plane = next(q for q in test_q if q.startswith("A plane travels 1200 miles in 3 hours"))
    renumbered = plane.replace("plane", "train").replace("1200", "270").replace("2000", "180")
    # one 10-gram of boilerplate shared with a test question, in an otherwise unrelated problem
    boiler = " ".join(GSM8K_Q0.split()[:12]) + " " + " ".join(f"unrelated{i}" for i in range(60))
    src = _source(tmp_path, "mix", [renumbered, boiler, "A completely different question about apples?"])
    train, _, _, contamination, stats = build_dataset([src], BENCH, seed=0, eval_fraction=0.0)
    assert contamination["problem"].tolist() == [renumbered]
    assert contamination["overlap"].iloc[0] >= 0.5 and stats["mix"]["contaminated"] == 1
    assert boiler in train["problem"].tolist()
    # the paper's rule (any shared 10-gram) drops the boilerplate row too
    train0, _, _, c0, _ = build_dataset([src], BENCH, seed=0, eval_fraction=0.0, min_overlap=0.0)
    assert len(c0) == 2 and boiler not in train0["problem"].tolist()


def test_gsm_symbolic_is_contaminated_by_template_when_gsm8k_is_a_benchmark():
    spec = {"name": "gsm_symbolic", "kind": "reasoning_gym", "generator": "gsm_symbolic", "size": 30}
    train, _, _, contamination, stats = build_dataset([spec], BENCH, seed=0, eval_fraction=0.0)
    assert train.empty and stats["gsm_symbolic"]["contaminated"] == 30
    assert set(contamination["benchmark_id"]) == {"gsm8k (template)"}
    math_only = [{**BENCH[0], "name": "other"}]  # a benchmark that is not GSM8K: template rule off
    train, *_ = build_dataset([spec], math_only, seed=0, eval_fraction=0.0)
    assert len(train) > 0


def test_seed_examples_are_readable_r1_format():
    from r1.sft_data import seed_examples

    seeds, counts = seed_examples(
        {**GSM8K_SPEC, "name": "gsm8k_cot", "solution_field": "answer", "size": 50}, 0, 0.65
    )
    assert counts["rows"] == 50 and counts["kept"] + counts["unreadable"] == 50 and counts["kept"] >= 45
    c = seeds["completion"].iloc[0]
    assert c.startswith("<think>\n") and "</think>\n\nThe answer is $\\boxed{" in c and "####" not in c
    assert seeds["prompt"].iloc[0].endswith("\\boxed{}.")


def test_convert_math_writes_the_overlay_files(tmp_path):
    """scripts/convert_math.py on a made-up release folder: unique_id and answer added, MATH-500 excluded."""
    import subprocess
    import sys

    math500_id = open("scripts/math500_unique_ids.txt").readline().strip()
    _, subject, name = math500_id.split("/")
    problems = {
        "train/algebra/2.json": "What is $1+1$? The answer is $\\boxed{2}$.",
        "train/algebra/10.json": (
            "Compute $\\boxed{1} + \\boxed{\\frac{1}{2}}$ hence $\\boxed{\\frac{3}{2}}$."
        ),
        f"test/{subject}/{name}": "A MATH-500 problem: $\\boxed{5}$.",
        "test/algebra/3.json": "A test4500 problem: $\\boxed{7}$.",
    }
    for uid, solution in problems.items():
        path = tmp_path / "MATH" / uid
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"problem": "p", "level": "Level 1", "type": "Algebra", "solution": solution})
        )
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, "scripts/convert_math.py", str(tmp_path / "MATH"), "--out", str(out)], check=True
    )
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (out / "test4500.jsonl").read_text().splitlines()]
    assert [(r["unique_id"], r["answer"]) for r in train] == [
        ("train/algebra/2.json", "2"),
        ("train/algebra/10.json", "\\frac{3}{2}"),
    ]
    assert [r["unique_id"] for r in test] == ["test/algebra/3.json"]
    assert list(train[0]) == ["unique_id", "problem", "level", "type", "solution", "answer"]


def test_drop_false_means_checked_and_kept_on_every_path(user_source):
    """decontaminate_rows (SFT files, cold start, rejection sampling) with `drop: false` still finds the
    planted benchmark question, reports it and keeps it, as build_dataset does for the prompt data."""
    import pandas as pd

    from r1.data import decontaminate_rows

    rows = pd.DataFrame({"prompt": ["What is 2 + 3?", GSM8K_Q0.upper()], "completion": ["5", "18"]})
    for drop in (True, False):
        kept, contaminated = decontaminate_rows(
            rows, "prompt", {"benchmarks": BENCH, "ngram": 10, "min_overlap": 0.5, "drop": drop}
        )
        assert contaminated["benchmark_id"].tolist() == ["gsm8k:0"] and contaminated["dropped"].tolist() == [
            drop
        ]
        assert len(kept) == (1 if drop else 2)
    _, _, _, contamination, _ = build_dataset(
        [user_source], BENCH, seed=0, eval_fraction=0.0, drop_contaminated=False
    )
    assert contamination["dropped"].tolist() == [False] and len(contamination) == 1
