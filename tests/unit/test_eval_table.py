"""Results table: one row per (model, benchmark), the paper's numbers beside ours, csv/md/html, plot."""

from __future__ import annotations

import pandas as pd
import pytest

from r1.eval.table import DEFAULT_PAPER_CSV, build_table, plot_pass1_by_stage, to_markdown, write_table


def _summary(model: str, benchmark: str, pass1: float, **extra) -> dict:
    s = {
        "model": model,
        "benchmark": benchmark,
        "n_problems": 6,
        "n_problems_graded": 6,
        "n_samples": 12,
        "k": 2,
        "pass@1": pass1,
        "pass@2": min(1.0, pass1 + 0.1),
        "cons@2": pass1,
        "mean_length": 123.5,
        "median_length": 120.0,
        "truncation_rate": 0.25,
        "format_rate": 0.5,
        "language_consistency": 0.9,
        "n_unparseable_gold": 0,
        "grader_mode": "lenient",
        "temperature": 0.6,
    }
    s.update(extra)
    return s


def test_paper_results_csv_holds_the_headline_table():
    paper = pd.read_csv(DEFAULT_PAPER_CSV)
    assert list(paper.columns) == ["model", "benchmark", "metric", "value", "source"]
    assert len(paper) == 6 * 5 - 1 + 1  # R1 has no AIME24 cons@64; R1's MMLU
    assert not paper.duplicated(["model", "benchmark", "metric"]).any()
    v = paper.set_index(["model", "benchmark", "metric"])["value"]
    assert v[("R1", "MATH-500", "pass@1")] == 97.3
    assert v[("R1-Zero", "AIME24", "cons@64")] == 86.7
    assert v[("Distill-Qwen-1.5B", "LiveCodeBench", "pass@1")] == 16.9
    assert v[("R1-Zero-Qwen-32B", "GPQA-Diamond", "pass@1")] == 55.0
    assert v[("R1", "MMLU", "pass@1")] == 90.8
    assert paper["source"].str.contains("2501.12948").all()


def test_table_one_row_per_model_and_benchmark_with_paper_column(tmp_path):
    summaries = [
        _summary("rl_zero", "math500", 0.2),
        _summary("sft", "gsm8k", 0.4),
        _summary("sft", "math500", 0.3),
        _summary("base", "math500", 0.1),
    ]
    df = build_table(summaries)
    assert len(df) == 4
    assert list(zip(df["model"], df["benchmark"], strict=True)) == [
        ("rl_zero", "math500"),
        ("sft", "gsm8k"),
        ("sft", "math500"),
        ("base", "math500"),
    ]
    for col in (
        "n_problems",
        "k",
        "pass@1",
        "pass@2",
        "cons@2",
        "mean_length",
        "median_length",
        "truncation_rate",
        "format_rate",
        "language_consistency",
        "n_unparseable_gold",
        "grader_mode",
        "paper_model",
        "paper_pass@1",
        "paper_cons@64",
    ):
        assert col in df.columns, col
    assert "temperature" not in df.columns
    rows = df.set_index(["model", "benchmark"])
    assert rows.loc[("rl_zero", "math500"), "paper_model"] == "R1-Zero"
    assert rows.loc[("rl_zero", "math500"), "paper_pass@1"] == pytest.approx(0.959)
    assert rows.loc[("sft", "math500"), "paper_pass@1"] == pytest.approx(0.973)  # default: R1
    assert pd.isna(rows.loc[("sft", "gsm8k"), "paper_pass@1"])  # GSM8K not in the paper
    assert pd.isna(rows.loc[("sft", "math500"), "paper_cons@64"])  # paper has AIME cons only
    assert pd.isna(rows.loc[("base", "math500"), "paper_pass@1"])  # base: no paper row
    assert rows.loc[("sft", "math500"), "pass@1"] == pytest.approx(0.3)

    # An explicit mapping and an AIME row with cons@64.
    df2 = build_table(
        [_summary("student", "aime24", 0.1), _summary("x", "MATH-500", 0.5, paper_model="R1")],
        paper_models={"student": "Distill-Qwen-7B"},
    )
    assert df2.loc[0, "paper_pass@1"] == pytest.approx(0.555)
    assert df2.loc[0, "paper_cons@64"] == pytest.approx(0.833)
    assert df2.loc[1, "paper_pass@1"] == pytest.approx(0.973)

    csv, md, html = tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.html"
    write_table(df, csv, md, html)
    back = pd.read_csv(csv)
    assert back.shape == df.shape and list(back.columns) == list(df.columns)
    assert back["pass@1"].tolist() == pytest.approx(df["pass@1"].tolist())
    lines = md.read_text().splitlines()
    assert len(lines) == 2 + len(df)
    assert lines[0].startswith("| model") and "paper_pass@1" in lines[0]
    assert set(lines[1]) <= set("|-: ")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "0.959" in md.read_text()
    text = html.read_text()
    assert "<table" in text and text.count("<tr") == 1 + len(df)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_duplicate_model_benchmark_rejected():
    with pytest.raises(ValueError, match="two summaries"):
        build_table([_summary("a", "gsm8k", 0.1), _summary("a", "gsm8k", 0.2)])


def test_markdown_escapes_pipes_and_blanks_missing():
    md = to_markdown(pd.DataFrame({"model": ["a|b"], "x": [float("nan")], "y": [0.123456]}))
    assert "a\\|b" in md and "0.1235" in md and "nan" not in md.lower()


def test_plot_png_written(tmp_path):
    df = build_table(
        [
            _summary("sft", "math500", 0.3),
            _summary("rl_zero", "math500", 0.2),
            _summary("sft", "gsm8k", 0.4),
            _summary("rl_zero", "gsm8k", 0.5),
        ]
    )
    png = tmp_path / "plot" / "pass1.png"
    plot_pass1_by_stage(df, png, stage_order=["rl_zero", "sft"])
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
