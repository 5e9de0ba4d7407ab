"""`rl_zero` with `algorithm: ppo` through the DAG on the tiny config: the stage trains, logs its value loss
every step, keeps the GRPO stage's artifacts (model, metrics, manifest, TensorBoard, held-out rows), and a job
killed mid-run resumes from its last checkpoint (value head included) when Snakemake runs it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SNAKEMAKE, TINY, copy_repo, overlay, snakemake

pytestmark = pytest.mark.e2e

STEPS = 6


def ppo_overlay(tmp_path: Path) -> Path:
    return overlay(
        tmp_path,
        {
            "rl_zero": {
                "algorithm": "ppo",
                "ppo": {"gamma": 1.0, "lam": 0.95, "kl_penalty": "reward"},
                # a random-init policy earns no accuracy or format reward: a coin flip gives the critic work
                "rewards": [
                    {"name": "accuracy", "weight": 1.0},
                    {"name": "format", "weight": 1.0},
                    {"name": "random", "weight": 1.0, "p": 0.5, "seed": 0},
                ],
                # tiny.yaml's GRPO settings (beta 0.001: a reference model, KL in the reward), more steps
                "trl": {"max_steps": STEPS, "save_steps": 1, "save_total_limit": 2},
                "heldout": {"benchmarks": ["gsm8k"], "every_steps": 3, "n": 2, "max_new_tokens": 8},
            }
        },
    )


def metrics(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.timeout(1800)
def test_ppo_rl_zero_runs_logs_value_loss_and_resumes_after_a_kill(tmp_path):
    run = copy_repo(tmp_path / "run")
    options = ppo_overlay(tmp_path)
    target = "results/rl_zero/manifest.json"
    snakemake(run, str(options), "--cores", "1", "results/data/train.parquet", "results/base_model/model")

    # start rl_zero, kill the whole Snakemake process group once a few checkpoints exist
    work = run / "results/rl_zero/checkpoints"
    cmd = [SNAKEMAKE, "--configfile", "config.yaml", TINY, str(options), "--cores", "1", target]
    env = {**os.environ, "R1_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 900
    while not list(work.glob("checkpoint-[3-9]/trainer_state.json")) and time.time() < deadline:
        assert proc.poll() is None, (run / "logs/rl_zero/rl_zero.log").read_text()[-4000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(int(p.name.split("-")[1]) for p in work.glob("checkpoint-*"))
    assert 3 <= killed_at < STEPS, killed_at
    assert not (run / "results/rl_zero/model/model.safetensors").exists(), "a killed job must leave no model"
    from safetensors import safe_open

    with safe_open(str(work / f"checkpoint-{killed_at}/model.safetensors"), "pt") as f:
        assert any(k.startswith("r1_value_head.") for k in f.keys()), "the checkpoint lost the value head"

    snakemake(run, str(options), "--unlock")
    snakemake(run, str(options), "--cores", "1", "--rerun-incomplete", target)

    log = (run / "logs/rl_zero/rl_zero.log").read_text()
    assert "rl_zero: PPO on 8 prompts" in log, log[-3000:]
    assert "resuming from checkpoint" in log, log[-3000:]
    rows = metrics(run / "results/rl_zero/metrics.jsonl")
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1)), "a step missing or logged twice"
    for r in steps:  # value loss every step; reward, KL, the critic's fit every rollout (here: every step)
        assert {"value_loss", "explained_variance", "entropy", "kl", "reward", "policy_loss"} <= set(r), r
        assert r["value_loss"] > 0 and r["entropy"] > 0 and r["grad_norm"] > 0, r
    heldout = [r["step"] for r in rows if "heldout/gsm8k/pass@1" in r]
    assert heldout == [0, 3, 6], heldout

    model = run / "results/rl_zero/model"
    assert (model / "config.json").exists() and (model / "model.safetensors").exists()
    with safe_open(str(model / "model.safetensors"), "pt") as f:
        assert not any(k.startswith("r1_value_head.") for k in f.keys()), "the stage's model is the policy"
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(model)  # loads like any r1 model
    manifest = json.loads((run / "results/rl_zero/manifest.json").read_text())
    assert manifest["params"]["cfg"]["algorithm"] == "ppo" and manifest["outputs"]
    assert list((run / "results/rl_zero/tb").glob("events.out.tfevents.*"))
