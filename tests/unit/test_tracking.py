"""Live tracking: a GRPO job of the tiny config writes TensorBoard event files with the expected tags."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from r1 import tracking
from tests.conftest import REPO, TINY


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(autouse=True)
def default_tracking():
    tracking.configure(None)
    yield
    tracking.configure(None)


def test_tags_and_config():
    assert tracking.tag_for("reward") == "train/reward"
    assert tracking.tag_for("rewards/accuracy/mean") == "train/rewards/accuracy/mean"
    assert tracking.tag_for("heldout/gsm8k/pass@1") == "heldout/gsm8k/pass@1"
    assert tracking.tag_for("eval_loss") == "eval/loss"
    assert tracking.trainer_args("rl_zero") == {"report_to": "none", "run_name": "rl_zero", "project": "r1"}
    with pytest.raises(tracking.TrackingError, match=r"tracking.report_to: unknown \['tb'\]"):
        tracking.configure({"report_to": ["tb"]})
    tracking.configure({"report_to": []})
    assert tracking.callbacks(Path("/nonexistent/checkpoints")) == []


def test_the_config_block_is_checked_at_dag_load_with_these_defaults():
    from r1.config import ConfigError, load_config, validate_config

    cfg = load_config(REPO / "config.yaml", REPO / TINY)
    assert cfg["tracking"] == {
        "report_to": list(tracking.DEFAULT_REPORT_TO),
        "project": tracking.DEFAULT_PROJECT,
    }
    for bad, key in (
        (["tb"], "tracking.report_to.0"),
        (["wandb", "wandb"], "tracking.report_to: Value error, each integration once"),
    ):
        with pytest.raises(ConfigError, match=key):
            validate_config({**cfg, "tracking": {"report_to": bad}}, check_files=False)


def test_jobs_read_the_config_block_from_the_environment(monkeypatch):
    """r1.rulekit hands config `tracking` to the job's process as $R1_TRACKING (not as a param)."""
    monkeypatch.setenv("R1_TRACKING", '{"report_to": [], "project": "p"}')
    tracking._settings.clear()
    assert tracking.settings() == {"report_to": [], "project": "p"}
    monkeypatch.setenv("R1_TRACKING", '{"report_to": ["wandb"]}')
    tracking._settings.clear()
    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(tracking.TrackingError, match="lists 'wandb', but it is not installed"):
            tracking.trainer_args("sft")


def test_callback_writes_every_real_number_the_trainer_logs(tmp_path):
    from transformers import TrainerState, TrainingArguments

    (cb,) = tracking.callbacks(tmp_path / "checkpoints")
    args = TrainingArguments(output_dir=str(tmp_path / "checkpoints"), report_to="none", use_cpu=True)
    state = TrainerState()
    for step in (1, 2):
        state.global_step = step
        cb.on_log(
            args,
            state,
            None,
            logs={
                "loss": 0.5 / step,
                "heldout/gsm8k/pass@1": np.float32(0.25 * step),
                "kl": torch.tensor(0.01),
                "eval_loss": 1,
                "flag": True,
                "completions": ["not a scalar"],
            },
        )
    cb.on_train_end(args, state, None)
    got = scalars(tmp_path / "tb")
    assert set(got) == {"train/loss", "heldout/gsm8k/pass@1", "train/kl", "eval/loss"}
    assert got["heldout/gsm8k/pass@1"] == [(1, 0.25), (2, 0.5)]


def test_grpo_job_of_the_tiny_config_writes_tensorboard_events(tmp_path, tiny_model_dir):
    from r1.grpo import train_rl

    tiny = yaml.safe_load((REPO / TINY).read_text())
    train = tmp_path / "train.parquet"
    pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(8)],
            "problem": [f"What is {i} + {i + 1}?" for i in range(8)],
            "answer": [str(2 * i + 1) for i in range(8)],
            "language": ["en"] * 8,
        }
    ).to_parquet(train)
    bench = tmp_path / "heldout.jsonl"
    bench.write_text(
        "".join(json.dumps({"question": f"{i} + 2 =", "answer": str(i + 2)}) + "\n" for i in range(4))
    )
    spec = {"name": "tiny", "path": str(bench), "problem_field": "question", "answer_field": "answer"}
    spec["answer_format"] = "integer"
    heldout = {"cfg": {"every_steps": 1, "n": 4, "k": 2, "max_new_tokens": 4}, "benchmarks": [spec]}
    stage_dir = tmp_path / "rl_zero"
    kwargs = dict(
        model_dir=str(tiny_model_dir),
        train_parquet=str(train),
        stage_cfg=tiny["rl_zero"],
        stage="rl_zero",
        grading={"mode": "lenient", "timeout_s": 2.0},
        work_dir=str(stage_dir / "checkpoints"),
        model_out=str(stage_dir / "model"),
        metrics_out=str(stage_dir / "metrics.jsonl"),
        seed=0,
        fp="fp-1",
    )
    train_rl(**kwargs, heldout=heldout)
    got = scalars(stage_dir / "tb")
    steps = tiny["rl_zero"]["trl"]["max_steps"]
    for tag in (
        "train/reward",
        "train/reward_std",
        "train/rewards/accuracy/mean",
        "train/rewards/format/mean",
        "train/kl",
        "train/completions/mean_length",
        "train/completions/max_length",
        "train/accuracy/timeout_frac",  # the grader's timeout rate (r1.rewards)
        "train/loss",
        "train/learning_rate",
    ):
        assert tag in got, f"{tag} missing; got {sorted(got)}"
        assert [s for s, _ in got[tag]] == list(range(1, steps + 1)), tag
    # The in-training held-out evaluation (r1.heldout), before the first step and after each one.
    assert [s for s, _ in got["heldout/tiny/pass@1"]] == list(range(0, steps + 1)), sorted(got)
    assert any(t.startswith("heldout/tiny/") and t != "heldout/tiny/pass@1" for t in got)
    # The event files hold what metrics.jsonl holds.
    rows = [json.loads(x) for x in (stage_dir / "metrics.jsonl").read_text().splitlines()]
    last = next(r for r in reversed(rows) if "reward" in r)
    assert got["train/reward"][-1][1] == pytest.approx(last["reward"], rel=1e-6)

    # A new run (other fingerprint) starts the curves afresh; it does not append to the old ones.
    before = sorted(p.name for p in (stage_dir / "tb").iterdir())
    train_rl(**{**kwargs, "fp": "fp-2"})
    after = sorted(p.name for p in (stage_dir / "tb").iterdir())
    assert len(after) == 1 and after != before
