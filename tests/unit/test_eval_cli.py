"""Benchmarks loading, the eval runner (fake generator) and `python -m r1 eval` end to end on a tiny model."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from r1.benchmarks import (
    DEFAULT_BENCHMARKS,
    MATH500_PATH,
    BenchmarkError,
    BenchmarkSpec,
    load_benchmark,
    resolve_benchmark,
)
from r1.eval.runner import SAMPLE_COLUMNS, EvalProtocol, check_format, evaluate
from r1.generation import Sample
from r1.prompts import MATH_INSTRUCTION

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ benchmarks
def test_default_benchmarks_load():
    gsm = load_benchmark(DEFAULT_BENCHMARKS["gsm8k"])
    assert list(gsm.columns) == ["id", "problem", "answer"] and len(gsm) == 1319
    assert gsm.loc[0, "answer"] == "18" and gsm.loc[0, "id"] == "0"
    assert gsm["answer"].str.fullmatch(r"-?\d+(\.\d+)?").all()  # thousands commas removed, nothing else left
    if Path(MATH500_PATH).exists():  # where a user has put MATH-500 (not shipped: docs/data.md)
        math = load_benchmark(DEFAULT_BENCHMARKS["math500"])
        assert len(math) == 500 and math["id"].is_unique
        assert math.loc[0, "id"] == "test/precalculus/807.json"
        assert math.loc[0, "answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    else:
        with pytest.raises(FileNotFoundError, match="docs/data.md"):
            load_benchmark(DEFAULT_BENCHMARKS["math500"])
    limited = load_benchmark(resolve_benchmark("gsm8k", limit=3))
    assert limited["problem"].tolist() == gsm["problem"][:3].tolist()


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_answer_formats_and_parquet(tmp_path):
    rows = [{"q": "a", "a": "#### 1,450,000"}, {"q": "b", "a": "work\n#### -3"}]
    spec = BenchmarkSpec("g", str(_write_jsonl(tmp_path / "g.jsonl", rows)), "q", "a", "gsm8k")
    assert load_benchmark(spec)["answer"].tolist() == ["1450000", "-3"]

    rows = [{"problem": "p1", "answer": "025", "uid": "x"}, {"problem": "p2", "answer": 7, "uid": "y"}]
    path = _write_jsonl(tmp_path / "aime.jsonl", rows)
    spec = resolve_benchmark(str(path), answer_format="integer", id_field="uid")
    df = load_benchmark(spec)
    assert df["answer"].tolist() == ["025", "7"] and df["id"].tolist() == ["x", "y"] and spec.name == "aime"

    pq = tmp_path / "amc" / "test.parquet"
    pq.parent.mkdir()
    pd.DataFrame({"problem": ["p1", "p2"], "answer": ["27.0", "-0.5"]}).to_parquet(pq)
    spec = resolve_benchmark(str(pq), answer_format="float")
    assert spec.name == "amc" and load_benchmark(spec)["answer"].tolist() == ["27.0", "-0.5"]

    rows = [{"problem": "p", "answer": a} for a in ("b", "(C)", "D.")]
    spec = resolve_benchmark(str(_write_jsonl(tmp_path / "mc.jsonl", rows)), answer_format="choice")
    assert load_benchmark(spec)["answer"].tolist() == ["B", "C", "D"]


@pytest.mark.parametrize(
    ("rows", "fmt", "message"),
    [
        (
            [{"problem": "p", "answer": "1"}, {"problem": "", "answer": "2"}],
            "latex",
            "row 2: field 'problem'",
        ),
        ([{"problem": "p", "answer": "1"}, {"problem": "q"}], "latex", "row 2: field 'answer'"),
        ([{"problem": "p", "answer": None}], "latex", "row 1: field 'answer'"),
        ([{"problem": "p", "answer": "18"}], "gsm8k", "no '#### '"),
        ([{"problem": "p", "answer": "2.5"}], "integer", "integer answer expected"),
        ([{"problem": "p", "answer": "x"}], "float", "float answer expected"),
        ([{"problem": "p", "answer": "maybe"}], "choice", "multiple-choice"),
    ],
)
def test_bad_rows_raise_naming_file_row_and_field(tmp_path, rows, fmt, message):
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(BenchmarkError, match=message) as e:
        load_benchmark(BenchmarkSpec("bad", str(path), "problem", "answer", fmt))
    assert str(path) in str(e.value)


def test_duplicate_ids_and_bad_specs_rejected(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [{"problem": "p", "answer": "1", "id": 5}] * 2)
    with pytest.raises(BenchmarkError, match="duplicate id"):
        load_benchmark(BenchmarkSpec("d", str(path), "problem", "answer", "latex", id_field="id"))
    with pytest.raises(ValueError, match="answer_format"):
        BenchmarkSpec("d", str(path), "problem", "answer", "words")
    with pytest.raises(FileNotFoundError):
        resolve_benchmark(str(tmp_path / "missing.jsonl"))


# ------------------------------------------------------------------ runner (fake generator)
class _FakeTokenizer:
    chat_template = "{{ fake }}"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        assert len(messages) == 1 and messages[0]["role"] == "user"  # no system prompt
        return f"<user>{messages[0]['content']}</user><assistant>"


class _FakeGenerator:
    backend = "fake"

    def __init__(self, texts):
        self.tokenizer = _FakeTokenizer()
        self.texts = texts
        self.calls = []

    def generate(self, prompts, params, desc=""):
        self.calls.append((prompts, params))
        return [
            [Sample(text=t, n_tokens=len(t.split()), truncated=(t == "cut")) for t in self.texts[i]]
            for i in range(len(prompts))
        ]


def test_evaluate_with_fake_generator_respects_prefill():
    bench = pd.DataFrame({"id": ["a", "b"], "problem": ["1+1?", "2+2?"], "answer": ["2", "4"]})
    gen = _FakeGenerator(
        [
            ["ok so 1+1=2 </think> The answer is \\boxed{2}", "<think>hmm</think> \\boxed{3}", "cut"],
            ["reasoning </think> \\boxed{4}", "nope \\boxed{4}", "think </think> \\boxed{4.0}"],
        ]
    )
    protocol = EvalProtocol(k=3, max_new_tokens=64, prefill="<think>\n", pass_ks=(1, 2, 3))
    samples, summary = evaluate("unused", bench, protocol, "fake_model", "toy", generator=gen)
    prompts, params = gen.calls[0]
    assert prompts[0] == f"<user>1+1?\n{MATH_INSTRUCTION}</user><assistant><think>\n"
    assert (params.n, params.temperature, params.top_p, params.max_new_tokens) == (3, 0.6, 0.95, 64)
    assert list(samples.columns) == list(SAMPLE_COLUMNS)
    assert len(samples) == 6
    assert samples["correct"].tolist() == [True, False, False, True, True, True]
    assert samples["format_ok"].tolist() == [True, True, False, True, False, True]
    assert samples["extracted"].tolist()[:3] == ["2", "3", None]
    assert samples["truncated"].tolist() == [False, False, True, False, False, False]
    assert summary["pass@1"] == pytest.approx((1 / 3 + 1) / 2)
    assert summary["pass@3"] == pytest.approx(1.0)
    assert summary["cons@3"] == pytest.approx(1.0)  # a: 2 vs 3 tie -> first; b: 4, 4, 4.0 one cluster
    assert summary["format_rate"] == pytest.approx(4 / 6)
    assert summary["model"] == "fake_model" and summary["benchmark"] == "toy" and summary["backend"] == "fake"
    assert summary["chat_template_sha256"] == hashlib.sha256(b"{{ fake }}").hexdigest()
    assert summary["prefill"] == "<think>\n" and summary["k"] == 3 and summary["top_p"] == 0.95
    assert summary["pass_ks"] == [1, 2, 3] and summary["grader_timeout_s"] == 2.0
    json.dumps(summary)  # serialisable

    # Without the prefill the same completions lack the opening tag: only the explicit one passes.
    assert check_format("reasoning </think> \\boxed{4}", prefill="") is False
    assert check_format("<think>r</think> \\boxed{4}", prefill="") is True
    assert check_format("reasoning </think> \\boxed{4}", prefill="<think>\n") is True


# ------------------------------------------------------------------ CLI end to end
def _run_cli(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        R1_NO_PROGRESS="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return subprocess.run(
        [sys.executable, "-m", "r1", "eval", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_eval_cli_end_to_end(tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    proc = _run_cli(
        [
            "--model",
            str(tiny_model_dir),
            "--benchmark",
            "gsm8k",
            "--limit",
            "3",
            "--k",
            "2",
            "--max-new-tokens",
            "16",
            "--pass-k",
            "2",
            "--prefill-think",
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("samples.parquet", "summary.json", "table.csv", "table.md", "table.html"):
        assert (out / name).stat().st_size > 0, name

    samples = pd.read_parquet(out / "samples.parquet")
    for col in SAMPLE_COLUMNS:
        assert col in samples.columns, col
    assert len(samples) == 6
    assert sorted(samples["problem_id"].unique()) == ["0", "1", "2"]
    assert sorted(samples["sample_idx"].unique()) == [0, 1]
    assert samples["answer"].tolist()[:2] == ["18", "18"]
    assert samples["n_tokens"].between(0, 16).all()
    assert samples["language_consistency"].between(0, 1).all()
    assert samples["correct"].isin([True, False]).all()
    assert samples["prompt"].str.endswith("<|im_start|>assistant\n<think>\n").all()
    assert samples["prompt"].str.contains(r"\\boxed\{\}").all()
    assert not samples["prompt"].str.contains("<|im_start|>system", regex=False).any()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_problems"] == 3 and summary["k"] == 2 and summary["n_samples"] == 6
    for key in ("pass@1", "pass@2", "cons@2", "truncation_rate", "format_rate", "language_consistency"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["pass@1"] <= summary["pass@2"]
    assert 0 <= summary["mean_length"] <= 16 and 0 <= summary["median_length"] <= 16
    assert summary["n_unparseable_gold"] == 0 and summary["grader_mode"] == "lenient"
    assert summary["temperature"] == 0.6 and summary["top_p"] == 0.95 and summary["max_new_tokens"] == 16
    assert summary["prefill"] == "<think>\n" and summary["backend"] == "transformers"
    from r1.prompts import R1_CHATML_TEMPLATE

    assert summary["chat_template_sha256"] == hashlib.sha256(R1_CHATML_TEMPLATE.encode()).hexdigest()

    table = pd.read_csv(out / "table.csv")
    assert len(table) == 1 and table.loc[0, "benchmark"] == "gsm8k"
    name = Path(tiny_model_dir).name
    assert table.loc[0, "model"] == (Path(tiny_model_dir).parent.name if name == "model" else name)
    assert pd.isna(table.loc[0, "paper_pass@1"])
    assert "| model" in proc.stdout and "gsm8k" in proc.stdout


def test_eval_cli_reports_bad_benchmark(tmp_path):
    proc = _run_cli(
        ["--model", str(tmp_path), "--benchmark", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")],
        timeout=60,
    )
    assert proc.returncode == 2 and "neither a default benchmark" in proc.stderr
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"problem": "p"}])
    proc = _run_cli(
        ["--model", str(tmp_path), "--benchmark", str(bad), "--out", str(tmp_path / "o")], timeout=60
    )
    assert proc.returncode == 2 and "row 1: field 'answer'" in proc.stderr
