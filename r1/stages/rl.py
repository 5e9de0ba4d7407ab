"""The RL stages (rl_zero, rl_reasoning, rl_final, ...): GRPO from a parent checkpoint."""

from __future__ import annotations

from r1.rulekit import JobSpec


def rl(job: JobSpec) -> None:
    from r1.checkpoints import run_outputs
    from r1.grpo import train_grpo

    train_grpo(
        model_dir=job.inp("model"),
        train_parquet=job.inp("train"),
        stage_cfg=job.cfg,
        stage=job.rule,
        grading=job.params["grading"],
        heldout=job.params.get("heldout"),
        **run_outputs(job),
    )
