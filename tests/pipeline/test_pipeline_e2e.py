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
    assert sorted(zip(table["model"], table["benchmark"], strict=True)) == sorted(
        (m, b) for m in models for b in benchmarks
    )
    for col in ("pass@1", "pass@2", "cons@2", "mean_length", "truncation_rate", "format_rate"):
        assert col in table.columns, col
        assert table[col].between(0, 10_000).all()
    assert (pipeline_run / "results/eval/table.md").read_text().count("\n") >= len(table) + 2


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
