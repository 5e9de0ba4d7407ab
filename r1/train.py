"""TRL trainer setup shared by every training stage (config from a stage's `trl:` block, model kwargs), and
the SFT-family trainers: SFT and TRL's GKD. Logit KD (soft + hard targets) is r1.kd; GRPO is r1.grpo;
checkpoints and resume are r1.checkpoints.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd

from r1 import tracking
from r1.checkpoints import train_resumable

log = logging.getLogger(__name__)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def make_args(config_cls, trl_cfg: dict, work_dir: Path, seed: int, where: str):
    """Build a TRL config from the stage's `trl:` block, with defaults that work on CPU and GPU alike."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(trl_cfg) - fields)
    if unknown:
        raise ValueError(f"config {where}.trl: unknown {config_cls.__name__} field(s) {unknown}")
    on_gpu = cuda_available()
    kwargs = {
        "output_dir": str(work_dir),
        **tracking.trainer_args(where),
        "save_strategy": "steps",
        "save_steps": 50,
        "save_total_limit": 1,
        "logging_steps": 1,
        "seed": seed,
        "bf16": on_gpu,
        "use_cpu": not on_gpu,
        "gradient_checkpointing": False,
        "disable_tqdm": False,
    }
    kwargs.update(trl_cfg)
    if kwargs["bf16"] == "auto":  # r1's own value (TRL's is a bool): bf16 autocast where matmuls are fast in bf16
        from r1.generation import cpu_has_fast_bf16

        kwargs["bf16"] = on_gpu or cpu_has_fast_bf16()
    args = config_cls(**kwargs)
    log.info(
        "%s: %s on %s, bf16=%s, gradient_checkpointing=%s",
        where,
        config_cls.__name__,
        "cuda" if on_gpu else "cpu",
        args.bf16,
        args.gradient_checkpointing,
    )
    return args


def attn_implementation(static_decode: bool = False) -> str:
    """Attention kernels on CUDA: FlashAttention-2 when the flash-attn package is installed, else PyTorch SDPA
    (which picks its own flash / memory-efficient kernels). A model that r1's StaticCacheDecoder samples from
    (GRPO rollouts) stays on SDPA: its static-cache CUDA graph is built for that path."""
    import importlib.util

    if not static_decode and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def model_kwargs(static_decode: bool = False) -> dict:
    """from_pretrained kwargs for training. fp32 weights on CUDA too: the trainers run bf16 autocast over them
    (TRL's own default, mixed precision), since pure-bf16 weights lose updates below ~1/256 of a weight's
    magnitude, i.e. most of an RL step at lr 1e-6. A stage's trl.model_init_kwargs overrides this."""
    if not cuda_available():
        return {"dtype": "float32"}
    return {"dtype": "float32", "attn_implementation": attn_implementation(static_decode)}


def attach_heldout(
    trainer, heldout: dict | None, tokenizer, prompt_style: str, grading: dict, work: Path, seed: int
) -> None:
    """Held-out evaluation during training (r1.heldout) when the stage has a `heldout:` block."""
    if not heldout or not heldout.get("benchmarks"):
        return
    from r1.heldout import HeldoutEvaluator, attach, heldout_callback

    evaluator = HeldoutEvaluator(
        heldout["cfg"], heldout["benchmarks"], tokenizer, prompt_style, grading, seed
    )
    attach(
        trainer, heldout_callback(evaluator, work / "metrics.jsonl", heldout["cfg"].get("every_steps", 25))
    )


def read_datasets(parquets: list[str]) -> pd.DataFrame:
    """The SFT rows (prompt, completion) of several dataset files, in order."""
    return pd.concat([pd.read_parquet(p) for p in parquets], ignore_index=True)


def sft_dataset(df: pd.DataFrame):
    """Conversational prompt/completion pairs: TRL then trains on the completion only."""
    from datasets import Dataset

    columns = {
        "prompt": [[{"role": "user", "content": p}] for p in df["prompt"]],
        "completion": [[{"role": "assistant", "content": c}] for c in df["completion"]],
    }
    if "weight" in df.columns:  # per-example loss weights (r1.weighted_sft)
        columns["weight"] = [float(w) for w in df["weight"].fillna(1.0)]
    return Dataset.from_dict(columns)


def train_sft(
    *,
    model_dir: str,
    dataset_parquets: list[str],
    stage_cfg: dict,
    stage: str,
    work_dir: str,
    model_out: str,
    metrics_out: str,
    seed: int,
    fp: str,
    heldout: dict | None = None,
    grading: dict | None = None,
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    def build(work: Path, callbacks: list):
        df = read_datasets(dataset_parquets)
        if df.empty:
            raise ValueError(f"{stage}: the SFT dataset {dataset_parquets} is empty")
        dataset = sft_dataset(df).shuffle(seed=seed)
        args = make_args(SFTConfig, dict(stage_cfg["trl"]), work, seed, stage)
        log.info("%s: SFT on %d examples from %s", stage, len(dataset), dataset_parquets)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        trainer_class = SFTTrainer
        if "weight" in df.columns:
            from r1.weighted_sft import weighted_sft_trainer_class

            trainer_class = weighted_sft_trainer_class()
            log.info(
                "%s: per-example loss weights %s", stage, df["weight"].value_counts().sort_index().to_dict()
            )
        trainer = trainer_class(
            model=AutoModelForCausalLM.from_pretrained(model_dir, **model_kwargs()),
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
        tokenizer.padding_side = "left"  # generation in the held-out callback; SFT pads by its own collator
        attach_heldout(trainer, heldout, tokenizer, "chat", grading or {}, work, seed)
        return trainer

    train_resumable(build, work_dir=work_dir, fp=fp, model_out=model_out, metrics_out=metrics_out)


def train_gkd(
    *,
    model_dir: str,
    teacher_dir: str,
    dataset_parquets: list[str],
    stage_cfg: dict,
    gkd_cfg: dict,
    stage: str,
    work_dir: str,
    model_out: str,
    metrics_out: str,
    seed: int,
    fp: str,
) -> None:
    """TRL's GKDTrainer: a generalised JSD between student and teacher (no hard-label term; r1.kd has one);
    lmbda 0 by default, i.e. on the dataset's completions."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    def build(work: Path, callbacks: list):
        df = read_datasets(dataset_parquets)
        dataset = Dataset.from_dict(
            {
                "messages": [
                    [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                    for p, c in zip(df["prompt"], df["completion"], strict=True)
                ]
            }
        )
        args = make_args(GKDConfig, {"lmbda": 0.0, **gkd_cfg, **stage_cfg["trl"]}, work, seed, stage)
        return GKDTrainer(
            model=AutoModelForCausalLM.from_pretrained(model_dir, **model_kwargs()),
            teacher_model=AutoModelForCausalLM.from_pretrained(teacher_dir, **model_kwargs()),
            args=args,
            train_dataset=dataset,
            processing_class=AutoTokenizer.from_pretrained(model_dir),
            callbacks=callbacks,
        )

    train_resumable(build, work_dir=work_dir, fp=fp, model_out=model_out, metrics_out=metrics_out)
