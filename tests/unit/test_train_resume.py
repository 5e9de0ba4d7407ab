"""Training resumes from its last checkpoint after a kill, and never from another config's checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from r1.checkpoints import fingerprint, prepare_work_dir

RUN = """
import sys, json
from r1.train import train_sft
train_sft(**json.loads(sys.argv[1]))
"""


def sft_kwargs(tmp_path: Path, model_dir: Path, max_steps: int) -> dict:
    data = tmp_path / "data.parquet"
    pd.DataFrame(
        {
            "prompt": [f"What is {i} + 1?" for i in range(16)],
            "completion": [f"<think>{i} + 1 = {i + 1}</think> \\boxed{{{i + 1}}}" for i in range(16)],
        }
    ).to_parquet(data)
    return {
        "model_dir": str(model_dir),
        "dataset_parquets": [str(data)],
        "stage": "sft",
        "seed": 0,
        "fp": "fp-1",
        "stage_cfg": {
            "trl": {
                "max_steps": max_steps,
                "save_steps": 1,
                "per_device_train_batch_size": 2,
                "learning_rate": 1e-4,
                "max_length": 64,
            }
        },
        "work_dir": str(tmp_path / "checkpoints"),
        "model_out": str(tmp_path / "model"),
        "metrics_out": str(tmp_path / "metrics.jsonl"),
    }


@pytest.mark.timeout(600)
def test_killed_training_resumes_from_last_checkpoint(tmp_path, tiny_model_dir):
    kwargs = sft_kwargs(tmp_path, tiny_model_dir, max_steps=12)
    env = {**os.environ, "R1_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, json.dumps(kwargs)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(kwargs["work_dir"])
    deadline = time.time() + 300
    while not list(work.glob("checkpoint-[3-9]")) and time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not Path(kwargs["model_out"]).exists(), "a killed job must leave no model"
    killed_at = max(int(p.name.split("-")[1]) for p in work.glob("checkpoint-*"))
    assert 3 <= killed_at < 12

    from r1.train import train_sft

    kwargs["stage_cfg"]["trl"]["max_steps"] = 12
    train_sft(**kwargs)
    steps = [
        json.loads(x)["step"]
        for x in Path(kwargs["metrics_out"]).read_text().splitlines()
        if "loss" in json.loads(x)
    ]
    assert steps == sorted(set(steps)), "steps logged twice after resume"
    assert steps[0] == 1 and steps[-1] == 12
    assert (Path(kwargs["model_out"]) / "model.safetensors").exists()
    rows = [json.loads(x) for x in Path(kwargs["metrics_out"]).read_text().splitlines()]
    rss = [r["peak_rss_gb"] for r in rows]  # every logged row carries the process's peak memory
    assert all(0.1 < x < 24 for x in rss), rss
    resumed = [r["peak_rss_gb"] for r in rows if r["step"] > killed_at]
    assert resumed == sorted(resumed), "a process's peak memory never decreases"


def test_checkpoints_of_another_config_are_discarded(tmp_path):
    work = tmp_path / "checkpoints"
    (work / "checkpoint-5").mkdir(parents=True)
    (work / "checkpoint-5" / "trainer_state.json").write_text("{}")
    (work / "r1_fingerprint.txt").write_text("old\n")
    assert prepare_work_dir(work, "new") is None
    assert not (work / "checkpoint-5").exists()
    (work / "checkpoint-2").mkdir()
    (work / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert prepare_work_dir(work, "new").endswith("checkpoint-2")


def test_an_incomplete_checkpoint_is_never_resumed(tmp_path):
    work = tmp_path / "checkpoints"
    for step, complete in ((2, True), (3, False)):
        (work / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (work / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (work / "r1_fingerprint.txt").write_text("fp\n")
    assert prepare_work_dir(work, "fp").endswith("checkpoint-2")
    assert not (work / "checkpoint-3").exists()


def test_the_fingerprint_ignores_where_and_when_upstream_ran_but_not_what_it_made(tmp_path, monkeypatch):
    """The same run on Slurm and locally gets one fingerprint (the distilled students' init.json is compared
    byte for byte by tests/pipeline/test_slurm.py); another upstream model gets another."""
    monkeypatch.chdir(tmp_path)
    model = Path("results/rl_zero/model")
    model.mkdir(parents=True)
    (model / "w.bin").write_bytes(b"weights")
    manifest = Path("results/rl_zero/manifest.json")

    def write_manifest(host: str, weights_hash: str):
        facts = {"host": host, "started": host, "outputs": {str(model): weights_hash}}
        manifest.write_text(json.dumps(facts))

    inputs = [str(model), str(manifest)]
    write_manifest("node-a", "h1")
    fp = fingerprint({"lr": 1}, inputs)
    write_manifest("node-b", "h1")
    assert fingerprint({"lr": 1}, inputs) == fp
    write_manifest("node-b", "h2")
    assert fingerprint({"lr": 1}, inputs) != fp
    assert fingerprint({"lr": 2}, inputs) != fingerprint({"lr": 1}, inputs)
    manifest.unlink()  # no manifest: the content itself
    fp_content = fingerprint({"lr": 1}, [str(model)])
    (model / "w.bin").write_bytes(b"other weights")
    assert fingerprint({"lr": 1}, [str(model)]) != fp_content
