"""TRL trainer setup shared by every training stage (config from a stage's `trl:` block, model kwargs), and
the SFT-family trainers: SFT and TRL's GKD. Logit KD (soft + hard targets) is r1.kd; GRPO is r1.grpo;
checkpoints and resume are r1.checkpoints.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
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
    # bf16 "auto" is r1's own value (TRL's is a bool): bf16 autocast where matmuls are fast in bf16
    if kwargs["bf16"] == "auto":
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


def flash_attn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def attn_implementation(static_decode: bool = False) -> str:
    """Attention kernels on CUDA: FlashAttention-2 when the flash-attn package is installed, else PyTorch SDPA
    (which picks its own flash / memory-efficient kernels). A model that r1's StaticCacheDecoder samples from
    (GRPO rollouts) stays on SDPA: its static-cache CUDA graph is built for that path."""
    if not static_decode and flash_attn_installed():
        return "flash_attention_2"
    return "sdpa"


def sft_attn_implementation(packed: bool) -> str:
    """Attention for SFT training; `packed`: padding-free batches (TRL's bfd packing, or padding_free).

    A padding-free batch is one row holding several sequences; TRL's collator marks the boundaries with
    position_ids that restart at 0 (and cu_seq_lens for varlen kernels), without an attention_mask.
    transformers 5.24 keeps the sequences apart on every path, at different costs:
    - flash_attention_2 (flash-attn installed): varlen kernels over cu_seq_lens, work ~ sum of L_i^2;
    - flex_attention: a BlockMask built from the position_ids (masking_utils.find_packed_sequence_indices);
      blocks outside each sequence's causal triangle are skipped, so work ~ sum of L_i^2 too;
    - sdpa: a dense block-diagonal causal mask from the same position_ids. Correct, but with an explicit
      mask SDPA cannot use its flash kernel and computes the whole (sum L_i)^2 score matrix: 8 sequences
      packed into 8192 tokens cost 8x the attention work of the same sequences padded.
    So on CUDA, packed: flash_attention_2, else flex_attention (torch >= 2.5), else sdpa. On CPU: sdpa (the
    dense mask; flex_attention there needs inductor's C++ compile). Unpacked: attn_implementation().
    A stage's trl.model_init_kwargs.attn_implementation overrides this choice (r1.train.sft_trainer)."""
    from transformers.utils import is_torch_flex_attn_available

    if not cuda_available():
        return "sdpa"
    if not packed:
        return attn_implementation()
    if flash_attn_installed():
        return "flash_attention_2"
    return "flex_attention" if is_torch_flex_attn_available() else "sdpa"


def is_padding_free(args) -> bool:
    """Whether an SFTConfig gives padding-free batches (r1.trl_fields.padding_free)."""
    from r1.trl_fields import padding_free

    return padding_free(
        {
            "padding_free": args.padding_free,
            "packing": args.packing,
            "packing_strategy": args.packing_strategy,
        }
    )


def model_kwargs(static_decode: bool = False, attn: str | None = None) -> dict:
    """from_pretrained kwargs for training. fp32 weights on CUDA too: the trainers run bf16 autocast over them
    (TRL's own default, mixed precision), since pure-bf16 weights lose updates below ~1/256 of a weight's
    magnitude, i.e. most of an RL step at lr 1e-6. `attn`: the caller's attention (sft_attn_implementation);
    else attn_implementation() on CUDA, transformers' default (sdpa) on CPU. A stage's trl.model_init_kwargs
    overrides this."""
    kwargs = {"dtype": "float32"}
    if attn is not None:
        kwargs["attn_implementation"] = attn
    elif cuda_available():
        kwargs["attn_implementation"] = attn_implementation(static_decode)
    return kwargs


def sft_model_kwargs(args) -> dict:
    """from_pretrained kwargs of an SFT-family trainer built with SFTConfig `args`: model_kwargs with the
    attention for its batches, then the stage's trl.model_init_kwargs on top. Clears args.model_init_kwargs,
    which TRL ignores (with a warning) once the model is loaded."""
    kwargs = {
        **model_kwargs(attn=sft_attn_implementation(is_padding_free(args))),
        **(args.model_init_kwargs or {}),
    }
    args.model_init_kwargs = None
    return kwargs


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


def sft_trainer(
    *,
    model_dir: str,
    dataset,
    stage_cfg: dict,
    stage: str,
    work_dir: Path,
    seed: int,
    callbacks: list | None = None,
):
    """The trainer of an SFT stage (also used by bench/sft_gpu.py): TRL's SFTTrainer with the stage's `trl:`
    block (r1.weighted_sft's subclass when `dataset` has a `weight` column), the model in fp32 with the
    attention its batches need (sft_attn_implementation: packed batches want varlen or block-sparse
    kernels)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    args = make_args(SFTConfig, dict(stage_cfg["trl"]), work_dir, seed, stage)
    kwargs = sft_model_kwargs(args)
    log.info(
        "%s: SFT on %d examples, %s, %s attention",
        stage,
        len(dataset),
        f"packed ({args.packing_strategy}, padding-free) into rows of {args.max_length} tokens"
        if is_padding_free(args)
        else f"padded batches of {args.per_device_train_batch_size}, max_length {args.max_length}",
        kwargs.get("attn_implementation", "default"),
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer_class = SFTTrainer
    if "weight" in dataset.column_names:
        from r1.weighted_sft import weighted_sft_trainer_class

        trainer_class = weighted_sft_trainer_class()
        log.info("%s: per-example loss weights %s", stage, dict(sorted(Counter(dataset["weight"]).items())))
    trainer = trainer_class(
        model=AutoModelForCausalLM.from_pretrained(model_dir, **kwargs),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    tokenizer.padding_side = "left"  # generation in the held-out callback; SFT pads by its own collator
    return trainer


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
    def build(work: Path, callbacks: list):
        df = read_datasets(dataset_parquets)
        if df.empty:
            raise ValueError(f"{stage}: the SFT dataset {dataset_parquets} is empty")
        log.info("%s: SFT data %s", stage, dataset_parquets)
        trainer = sft_trainer(
            model_dir=model_dir,
            dataset=sft_dataset(df).shuffle(seed=seed),
            stage_cfg=stage_cfg,
            stage=stage,
            work_dir=work,
            seed=seed,
            callbacks=callbacks,
        )
        attach_heldout(trainer, heldout, trainer.processing_class, "chat", grading or {}, work, seed)
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
