"""The RL stages' trainer: TRL's GRPOTrainer with r1's prompts, reward registry and CUDA rollouts; with
`algorithm: ppo` the same trainer with a value head, GAE and the PPO loss (r1.ppo)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from r1.checkpoints import train_resumable
from r1.train import attach_heldout, cuda_available, make_args, model_kwargs

log = logging.getLogger(__name__)


def rl_prompt_dataset(
    train: pd.DataFrame, num_prompts: int, prompt_style: str, seed: int, extra: pd.DataFrame | None = None
):
    """GRPO prompts: the R1-Zero raw template, or one chat user turn with the paper's math instruction.

    `extra` (r1.task_stages.rl_task_prompts): code and open-ended prompts mixed in, with their own
    instructions (no math instruction), an empty `answer` and, for code, the `tests` the code reward runs."""
    from datasets import Dataset

    from r1.prompts import R1_ZERO_TEMPLATE, user_message

    rows = train.sample(n=min(num_prompts, len(train)), random_state=seed).reset_index(drop=True)
    zero = prompt_style == "r1_zero"
    texts = [p if zero else user_message(p) for p in rows["problem"]]
    columns = {
        "answer": rows["answer"].tolist(),
        "language": rows["language"].tolist(),
        "id": rows["id"].tolist(),
    }
    if extra is not None and len(extra):
        texts += extra["problem"].tolist()
        columns = {k: v + extra[k].tolist() for k, v in columns.items()}
        columns["tests"] = [[] for _ in range(len(rows))] + [list(t) for t in extra["tests"]]
        columns["prefix"] = [""] * len(rows) + extra["prefix"].tolist()
        columns["entry_point"] = [""] * len(rows) + extra["entry_point"].tolist()
    if zero:
        prompts = [R1_ZERO_TEMPLATE.format(prompt=t) for t in texts]
    else:
        prompts = [[{"role": "user", "content": t}] for t in texts]
    return Dataset.from_dict({"prompt": prompts, **columns})


# Logged steps in a row in which no group's rewards varied before an RL stage warns: GRPO's advantages are
# then all 0 and so is its gradient (E4 on the H200, 2026-12-04: gpu-small's rl_zero ran 100 such steps).
NO_SIGNAL_STEPS = 20


def no_signal_watch(stage: str, window: int = NO_SIGNAL_STEPS):
    """A TrainerCallback that counts the logged steps in a row with `frac_reward_zero_std` = 1 (every group's
    samples got the same reward) as `no_signal_steps` in the metrics, and warns in the log when the count
    reaches `window` and every `window` steps after: the run is spending compute without a gradient."""
    from transformers import TrainerCallback

    class NoSignalWatch(TrainerCallback):
        run = 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "frac_reward_zero_std" not in logs:
                return
            self.run = self.run + 1 if logs["frac_reward_zero_std"] >= 1.0 else 0
            logs["no_signal_steps"] = self.run
            if self.run and self.run % window == 0:
                log.warning(
                    "%s: %d logged steps in a row without reward variance in any group (mean reward %s): "
                    "the advantages and the policy gradient are 0. Rewards, prompt style or task difficulty "
                    "do not fit this model (docs/results.md, E1 and E4).",
                    stage,
                    self.run,
                    logs.get("reward"),
                )

    return NoSignalWatch()


def rl_trainer(
    *,
    model_dir: str,
    dataset,
    stage_cfg: dict,
    stage: str,
    grading: dict,
    work_dir: Path,
    seed: int,
    callbacks: list | None = None,
    reward_context: dict | None = None,
):
    """The trainer of an RL stage (also used by bench/grpo_gpu.py, bench/ppo_vs_grpo.py): r1's rewards, config
    and rollouts; GRPO, or PPO (r1.ppo) when the stage's `algorithm` is ppo. `reward_context` adds options per
    reward name (the code reward's sandbox, the judge rewards' judge)."""
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from r1.engine import grpo_trainer_class, use_static_decoder
    from r1.ppo import RL_ALGORITHMS, PPOSettings, ppo_trainer_class
    from r1.rewards import build_reward_funcs

    specs = [
        {
            **(
                {"mode": grading.get("mode"), "timeout_s": grading.get("timeout_s")}
                if r["name"] == "accuracy"
                else {}
            ),
            **(reward_context or {}).get(r["name"], {}),
            **r,
        }
        for r in stage_cfg["rewards"]
    ]
    specs = [{k: v for k, v in s.items() if v is not None} for s in specs]
    funcs, weights = build_reward_funcs(specs)
    trl = stage_cfg["trl"]
    static = (
        cuda_available()
        and not trl.get("use_vllm")
        and use_static_decoder(trl.get("cache_implementation"), "cuda")
    )
    trl_cfg = {"reward_weights": weights, "model_init_kwargs": model_kwargs(static_decode=static), **trl}
    args = make_args(GRPOConfig, trl_cfg, work_dir, seed, stage)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    algorithm = stage_cfg.get("algorithm", RL_ALGORITHMS[0])
    if algorithm == "ppo":
        ppo = PPOSettings.from_config(stage_cfg.get("ppo"))
        cls, extra, loss = ppo_trainer_class(), {"ppo": ppo}, f"ppo {ppo}"
    elif algorithm == "grpo":
        cls, extra, loss = grpo_trainer_class(), {}, args.loss_type
    else:
        raise ValueError(f"config {stage}.algorithm: {algorithm!r}, expected one of {RL_ALGORITHMS}")
    log.info(
        "%s: %s on %d prompts, rewards %s, weights %s, loss %s, beta %s, rollouts %s",
        stage,
        algorithm.upper(),
        len(dataset),
        [f.__name__ for f in funcs],
        weights,
        loss,
        args.beta,
        "vLLM " + args.vllm_mode
        if args.use_vllm
        else "r1 static-cache CUDA graphs"
        if static
        else "transformers generate",
    )
    return cls(
        model=model_dir,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        **extra,
    )


def train_rl(
    *,
    model_dir: str,
    train_parquet: str,
    stage_cfg: dict,
    stage: str,
    grading: dict,
    work_dir: str,
    model_out: str,
    metrics_out: str,
    seed: int,
    fp: str,
    heldout: dict | None = None,
    extra_prompts: pd.DataFrame | None = None,
    reward_context: dict | None = None,
) -> None:
    def build(work: Path, callbacks: list):
        train = pd.read_parquet(train_parquet)
        style = stage_cfg["prompt_style"]
        dataset = rl_prompt_dataset(train, stage_cfg["num_prompts"], style, seed, extra_prompts)
        trainer = rl_trainer(
            model_dir=model_dir,
            dataset=dataset,
            stage_cfg=stage_cfg,
            stage=stage,
            grading=grading,
            work_dir=work,
            seed=seed,
            callbacks=[no_signal_watch(stage), *callbacks],  # first: the metrics line sees its count
            reward_context=reward_context,
        )
        prompt_style = stage_cfg["prompt_style"]
        attach_heldout(trainer, heldout, trainer.processing_class, prompt_style, grading, work, seed)
        return trainer

    train_resumable(build, work_dir=work_dir, fp=fp, model_out=model_out, metrics_out=metrics_out)
