"""The whole DAG on the tiny config: every declared artifact exists, well formed; a rerun does nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import snakemake, tiny_config

pytestmark = pytest.mark.e2e

STAGES = ["base_model", "rl_zero", "cold_start_sft", "rl_reasoning", "sft", "sft_stabilize"]


def declared_outputs(workdir: Path) -> list[Path]:
    proc = snakemake(workdir, "--summary", "distill_all")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    header = lines.index(next(ln for ln in lines if ln.startswith("output_file")))
    return [workdir / ln.split("\t")[0] for ln in lines[header + 1 :]]


def test_every_declared_artifact_exists_and_is_well_formed(pipeline_run):
    outputs = declared_outputs(pipeline_run)
    assert len(outputs) >= 40
    for path in outputs:
        assert path.exists(), f"declared output missing: {path}"
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
        elif path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        elif path.is_dir():
            assert (path / "config.json").exists() and (path / "model.safetensors").exists(), path


def test_finished_jobs_leave_no_resume_chunks(pipeline_run):
    # sampling jobs save finished chunks under .resume/<rule>/ (r1.generation_resume); a job that succeeded
    # removes its own, so a finished run keeps none
    assert not (pipeline_run / ".resume").exists()


def test_every_job_wrote_a_manifest_with_provenance(pipeline_run):
    manifests = sorted((pipeline_run / "results").rglob("manifest.json"))
    assert len(manifests) >= 25
    for m in manifests:
        data = json.loads(m.read_text())
        for key in (
            "rule",
            "inputs",
            "outputs",
            "params",
            "code_sha256",
            "versions",
            "seed",
            "host",
            "started",
            "finished",
            "upstream_manifests",
        ):
            assert key in data, f"{m}: no {key}"
        assert data["outputs"], f"{m}: no outputs hashed"
        assert data["versions"]["torch"].startswith("2.")


def test_eval_table_has_one_row_per_model_and_benchmark(pipeline_run):
    cfg = tiny_config(pipeline_run)
    table = pd.read_csv(pipeline_run / "results/eval/table.csv")
    models = ["base", "rl_zero", "cold_start_sft", "rl_reasoning", "sft", "sft_stabilize"] + [
        f"distill_{s['name']}" for s in cfg["distill"]["students"]
    ]
    benchmarks = [b["name"] for b in cfg["benchmarks"]]
    tasks = [b["name"] for b in cfg["task_benchmarks"]]
    assert sorted(zip(table["model"], table["benchmark"], strict=True)) == sorted(
        [(m, b) for m in models for b in benchmarks]
        + [(m, t) for m in cfg["eval"]["task_models"] for t in tasks]
    )
    math = table[table["kind"].isna()]
    for col in ("pass@1", "pass@2", "cons@2", "mean_length", "truncation_rate", "format_rate"):
        assert col in table.columns, col
        assert math[col].between(0, 10_000).all()
    assert (pipeline_run / "results/eval/table.md").read_text().count("\n") >= len(table) + 2
    # each model with the prompt it was trained on: R1-Zero with the paper's raw template, the others chat
    for model in ("rl_zero", "rl_reasoning", "sft"):
        bench = benchmarks[0]
        summary = json.loads((pipeline_run / f"results/eval/{model}/{bench}/summary.json").read_text())
        template = summary["prompt_template"]
        assert "{problem}" in template  # the prompt as it was rendered, without the benchmark's text
        chat = template.startswith("<|im_start|>")
        want = ("r1_zero", False) if model == "rl_zero" else ("chat", True)
        assert (summary["prompt_style"], chat) == want, model


def test_training_stages_really_trained(pipeline_run):
    cfg = tiny_config(pipeline_run)
    for stage in ["rl_zero", "rl_reasoning"]:
        rows = [
            json.loads(x) for x in (pipeline_run / f"results/{stage}/metrics.jsonl").read_text().splitlines()
        ]
        steps = sorted({r["step"] for r in rows if "loss" in r or "reward" in r})
        assert steps[-1] == cfg[stage]["trl"]["max_steps"]
        assert any("reward" in r and "completions/mean_length" in r for r in rows)
        assert "GRPO on" in (pipeline_run / f"logs/{stage}/{stage}.log").read_text()
    for stage in ["cold_start_sft", "sft", "sft_stabilize"]:
        rows = [
            json.loads(x) for x in (pipeline_run / f"results/{stage}/metrics.jsonl").read_text().splitlines()
        ]
        assert any("loss" in r for r in rows), stage
    # Different stages produce different weights (each one really trained).
    hashes = {
        s: json.loads((pipeline_run / f"results/{s}/manifest.json").read_text())["outputs"] for s in STAGES
    }
    model_hashes = [next(v for k, v in h.items() if k.endswith("model")) for h in hashes.values()]
    assert len(set(model_hashes)) == len(STAGES)


def test_sampling_stages_filtered_and_counted(pipeline_run):
    for stage in ["cold_start", "rejection_sampling", "distill"]:
        stats = json.loads((pipeline_run / f"results/{stage}/stats.json").read_text())
        f = stats["filter"]
        assert f["n_samples"] > 0
        assert f["kept"] + sum(v for k, v in f.items() if k.startswith("dropped_")) == f["n_samples"]
    samples = pd.read_parquet(pipeline_run / "results/cold_start/samples.parquet")
    assert {"completion", "correct", "keep", "reason"} <= set(samples.columns)
    shards = sorted((pipeline_run / "results/distill/teacher").glob("shard_*/samples.parquet"))
    assert len(shards) == tiny_config(pipeline_run)["distill"]["num_shards"]


def test_sft_restarts_from_the_base_model(pipeline_run):
    m = json.loads((pipeline_run / "results/sft/manifest.json").read_text())
    assert any("results/base_model/manifest.json" in k for k in m["upstream_manifests"])
    assert not any("rl_reasoning" in k for k in m["upstream_manifests"])


def test_rerun_after_a_finished_run_schedules_nothing(pipeline_run):
    proc = snakemake(pipeline_run, "-n", "distill_all")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_beyond_math_code_rl_judged_data_and_task_evals(pipeline_run):
    """The code RL stage, the judge-scored rejection sampling of prompts without a reference (the generated
    non-reasoning and safety SFT sets), the weighted stabilisation SFT and the task evals, in the tiny run."""
    run, cfg = pipeline_run, tiny_config(pipeline_run)
    # task sets: decontaminated prompt sets beyond math
    stats = json.loads((run / "results/tasks/stats.json").read_text())
    assert stats["code"] > 0 and stats["open"] > 0 and stats["safety"] > 0
    # code RL: MBPP prompts mixed into rl_reasoning, scored by the sandboxed code reward every step
    n_prompts = cfg["rl_reasoning"]["num_prompts"] + cfg["rl_reasoning"]["code_prompts"]
    log = (run / "logs/rl_reasoning/rl_reasoning.log").read_text()
    assert f"rl_reasoning: GRPO on {n_prompts} prompts" in log
    rows = [json.loads(x) for x in (run / "results/rl_reasoning/metrics.jsonl").read_text().splitlines()]
    assert any("rewards/code/mean" in r for r in rows), rows[0]
    # judge-scored SFT data: every sample judged, the best kept per prompt, yields in the report
    samples = pd.read_parquet(run / "results/sft_data/samples.parquet")
    assert samples["score"].between(0, 1).all() and set(samples["set"]) == {"non_reasoning", "safety"}
    sets = json.loads((run / "results/sft_data/stats.json").read_text())["sets"]
    for name in ("non_reasoning", "safety"):
        kept = pd.read_parquet(run / f"results/sft_data/{name}.parquet")
        assert len(kept) == cfg["sft_data"][name]["num_prompts"]  # min_score 0: the best of each prompt
        assert sets[name]["filter"]["kept"] == len(kept)
    report = (run / "results/report/generation_yield.html").read_text()
    assert "sft_data: safety" in report and "rejection_sampling: code" in report
    # safety prompts are hh-rlhf first turns of the train half, never its eval half
    from r1.tasks import load_hh_rlhf

    hh_eval = set(load_hh_rlhf(run / "r1/assets/benchmarks/hh_rlhf_harmless/test.jsonl.gz", "eval")["prompt"])
    assert not set(pd.read_parquet(run / "results/sft_data/safety.parquet")["prompt"]) & hh_eval
    # the generated non-reasoning set reaches the SFT data; code samples were tested in the sandbox
    dataset = pd.read_parquet(run / "results/rejection_sampling/dataset.parquet")
    assert (dataset["kind"] == "non_reasoning").sum() == cfg["sft_data"]["non_reasoning"]["num_prompts"]
    rs = pd.read_parquet(run / "results/rejection_sampling/samples.parquet")
    n_code = cfg["rejection_sampling"]["code_prompts"] * cfg["rejection_sampling"]["samples_per_prompt"]
    assert (rs["task"] == "code").sum() == n_code
    # sft_stabilize: safety rows weighted lambda, plus replayed reasoning rows
    extra = pd.read_parquet(run / "results/sft_stabilize/extra_data.parquet")
    assert set(extra.loc[extra["kind"] == "safety", "weight"]) == {cfg["sft_stabilize"]["safety_weight"]}
    assert "per-example loss weights" in (run / "logs/sft_stabilize/sft_stabilize.log").read_text()
    # task evals: code, multiple-choice and safety rows
    table = pd.read_csv(run / "results/eval/table.csv").set_index("benchmark")
    for name, col in [
        ("mbpp", "pass@1"),
        ("humaneval", "pass@1"),
        ("mmlu_stem", "pass@1"),
        ("advbench", "refusal_rate"),
        ("hh_rlhf_harmless", "refusal_rate"),
        ("xstest", "refusal_rate"),
        ("mt_bench", "judge_score"),
    ]:
        assert table.loc[name, col] >= 0, (name, col)
    assert table.loc["mmlu_stem", "paper_pass@1"] == pytest.approx(0.908)
