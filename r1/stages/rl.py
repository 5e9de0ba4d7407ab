"""The RL stages (rl_zero, rl_reasoning, rl_final, ...): GRPO, or PPO (`algorithm: ppo`), from a parent."""

from __future__ import annotations

import pandas as pd

from r1.rulekit import JobSpec


def rl(job: JobSpec) -> None:
    from r1.checkpoints import run_outputs
    from r1.grpo import train_rl

    train_rl(
        model_dir=job.inp("model"),
        train_parquet=job.inp("train"),
        stage_cfg=job.cfg,
        stage=job.rule,
        grading=job.params["grading"],
        heldout=job.params.get("heldout"),
        extra_prompts=rl_task_prompts(job),
        reward_context=reward_context(job),
        **run_outputs(job),
    )


def rl_task_prompts(job: JobSpec) -> pd.DataFrame | None:
    """The stage's `code_prompts` MBPP-style prompts (with tests) and `open_prompts` open-ended ones."""
    from r1.sampling import prompt_rows

    cfg = job.cfg
    parts = []
    if cfg.get("code_prompts"):
        code = prompt_rows(job.inp("code_tasks"), cfg["code_prompts"], job.seed + 3)
        parts.append(code[["id", "problem", "tests", "prefix", "entry_point"]])
    if cfg.get("open_prompts"):
        open_ = prompt_rows(job.inp("open_tasks"), cfg["open_prompts"], job.seed + 5)
        parts.append(
            pd.DataFrame(
                {
                    "id": open_["id"],
                    "problem": open_["prompt"],
                    "tests": [[] for _ in range(len(open_))],
                    "prefix": "",
                    "entry_point": "",
                }
            )
        )
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    out["entry_point"] = out["entry_point"].fillna("").astype(str)
    out["prefix"] = out["prefix"].fillna("").astype(str)
    return out.assign(answer="", language="en")


def reward_context(job: JobSpec) -> dict:
    """Options the RL stage's task rewards need: the sandbox limits and the judge."""
    return {
        "code": {"sandbox": job.params.get("sandbox")},
        "helpfulness": {"judge": job.params.get("judge")},
        "harmlessness": {"judge": job.params.get("judge")},
    }
