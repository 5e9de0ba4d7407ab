"""The RL stages' trainer: TRL's GRPOTrainer with r1's prompts, reward registry and CUDA rollouts."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from r1.checkpoints import train_resumable
from r1.train import attach_heldout, cuda_available, make_args, model_kwargs

log = logging.getLogger(__name__)


def rl_prompt_dataset(train: pd.DataFrame, num_prompts: int, prompt_style: str, seed: int):
    """GRPO prompts: the R1-Zero raw template, or one chat user turn with the paper's math instruction."""
    from datasets import Dataset

    from r1.prompts import R1_ZERO_TEMPLATE, user_message

    rows = train.sample(n=min(num_prompts, len(train)), random_state=seed).reset_index(drop=True)
    if prompt_style == "r1_zero":
        prompts = [R1_ZERO_TEMPLATE.format(prompt=p) for p in rows["problem"]]
    else:
        prompts = [[{"role": "user", "content": user_message(p)}] for p in rows["problem"]]
    return Dataset.from_dict(
        {
            "prompt": prompts,
            "answer": rows["answer"].tolist(),
            "language": rows["language"].tolist(),
            "id": rows["id"].tolist(),
        }
    )


def grpo_trainer(
    *,
    model_dir: str,
    dataset,
    stage_cfg: dict,
    stage: str,
    grading: dict,
    work_dir: Path,
    seed: int,
    callbacks: list | None = None,
):
    """The GRPO trainer of an RL stage (also used by bench/grpo_gpu.py): r1's rewards, config and rollouts."""
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from r1.engine import grpo_trainer_class, use_static_decoder
    from r1.rewards import build_reward_funcs

    specs = [
        {
            **(
                {"mode": grading.get("mode"), "timeout_s": grading.get("timeout_s")}
                if r["name"] == "accuracy"
                else {}
            ),
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
    log.info(
        "%s: GRPO on %d prompts, rewards %s, weights %s, loss %s, beta %s, rollouts %s",
        stage,
        len(dataset),
        [f.__name__ for f in funcs],
        weights,
        args.loss_type,
        args.beta,
        "vLLM " + args.vllm_mode
        if args.use_vllm
        else "r1 static-cache CUDA graphs"
        if static
        else "transformers generate",
    )
    return grpo_trainer_class()(
        model=model_dir,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def train_grpo(
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
) -> None:
    def build(work: Path, callbacks: list):
        train = pd.read_parquet(train_parquet)
        dataset = rl_prompt_dataset(train, stage_cfg["num_prompts"], stage_cfg["prompt_style"], seed)
        trainer = grpo_trainer(
            model_dir=model_dir,
            dataset=dataset,
            stage_cfg=stage_cfg,
            stage=stage,
            grading=grading,
            work_dir=work,
            seed=seed,
            callbacks=callbacks,
        )
        prompt_style = stage_cfg["prompt_style"]
        attach_heldout(trainer, heldout, trainer.processing_class, prompt_style, grading, work, seed)
        return trainer

    train_resumable(build, work_dir=work_dir, fp=fp, model_out=model_out, metrics_out=metrics_out)
