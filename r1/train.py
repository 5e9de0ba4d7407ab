"""Training stages as thin configurations of TRL trainers: GRPO (all RL stages), SFT, and logit KD (GKD).

Resumable: trainer state lives in an undeclared `checkpoints/` folder beside the declared model directory
(Snakemake deletes declared directory outputs before a job starts); a rerun resumes from the last
checkpoint if it was made with the same config and inputs, else it starts clean. One JSON line per
optimizer step goes to `checkpoints/metrics.jsonl`; the finished run copies it to the declared metrics file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

import pandas as pd

from r1.atomic import atomic_dir, atomic_path

log = logging.getLogger(__name__)

FINGERPRINT = "r1_fingerprint.txt"


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
        "report_to": "none",
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


def fingerprint(params: dict, inputs: list[str]) -> str:
    """Identity of a training run: its config slice and its inputs' manifests/contents."""
    from r1.manifest import sha256_path, upstream_manifest

    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for p in sorted(inputs):
        m = upstream_manifest(p)
        h.update((sha256_path(m) if m else sha256_path(p)).encode())
    return h.hexdigest()


def prepare_work_dir(work_dir: Path, fp: str):
    """Return the checkpoint to resume from (or None); wipe checkpoints made by a different run."""
    from transformers.trainer_utils import get_last_checkpoint

    fp_file = work_dir / FINGERPRINT
    if work_dir.exists() and (not fp_file.exists() or fp_file.read_text().strip() != fp):
        log.info("checkpoints in %s belong to another config or inputs: starting from scratch", work_dir)
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    fp_file.write_text(fp + "\n")
    # A kill can land in the middle of a checkpoint write: only a checkpoint with its trainer state is complete.
    for ckpt in work_dir.glob("checkpoint-*"):
        if not (ckpt / "trainer_state.json").exists():
            log.warning("discarding incomplete checkpoint %s", ckpt)
            shutil.rmtree(ckpt)
    last = get_last_checkpoint(str(work_dir))
    metrics = work_dir / "metrics.jsonl"
    if last is None:
        metrics.unlink(missing_ok=True)
        return None
    step = int(Path(last).name.split("-")[-1])
    if metrics.exists():  # drop lines logged after the checkpoint: they will be redone
        lines = [
            ln for ln in metrics.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= step
        ]
        metrics.write_text("".join(ln + "\n" for ln in lines))
    log.info("resuming from checkpoint %s (step %d)", last, step)
    return last


def metrics_callback(path: Path):
    from transformers import TrainerCallback

    class MetricsJsonl(TrainerCallback):
        """One JSON line per logged step: reward, per-reward means, KL, lengths, clip ratios, loss, lr."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "epoch": state.epoch}
            row.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")

    return MetricsJsonl()


def _finish(trainer, tokenizer, work_dir: Path, model_out: str, metrics_out: str | None) -> None:
    if trainer.accelerator.is_main_process:
        with atomic_dir(model_out) as tmp:
            trainer.save_model(str(tmp))
            tokenizer.save_pretrained(tmp)
        if metrics_out:
            with atomic_path(metrics_out) as tmp:
                src = work_dir / "metrics.jsonl"
                shutil.copyfile(src, tmp) if src.exists() else tmp.write_text("")
    trainer.accelerator.wait_for_everyone()


def attn_implementation(static_decode: bool = False) -> str:
    """Attention kernels on CUDA: FlashAttention-2 when the flash-attn package is installed, else PyTorch SDPA
    (which picks its own flash / memory-efficient kernels). A model that r1's StaticCacheDecoder samples from
    (GRPO rollouts) stays on SDPA: its static-cache CUDA graph is built for that path."""
    import importlib.util

    if not static_decode and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def _model_kwargs(static_decode: bool = False) -> dict:
    """from_pretrained kwargs for training. fp32 weights on CUDA too: the trainers run bf16 autocast over them
    (TRL's own default, mixed precision), since pure-bf16 weights lose updates below ~1/256 of a weight's
    magnitude, i.e. most of an RL step at lr 1e-6. A stage's trl.model_init_kwargs overrides this."""
    if not cuda_available():
        return {"dtype": "float32"}
    return {"dtype": "float32", "attn_implementation": attn_implementation(static_decode)}


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
    trl_cfg = {"reward_weights": weights, "model_init_kwargs": _model_kwargs(static_decode=static), **trl}
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
) -> None:
    work = Path(work_dir)
    resume = prepare_work_dir(work, fp)
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
        callbacks=[metrics_callback(work / "metrics.jsonl")],
    )
    trainer.train(resume_from_checkpoint=resume)
    _finish(trainer, trainer.processing_class, work, model_out, metrics_out)


def sft_dataset(df: pd.DataFrame):
    """Conversational prompt/completion pairs: TRL then trains on the completion only."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": p}] for p in df["prompt"]],
            "completion": [[{"role": "assistant", "content": c}] for c in df["completion"]],
        }
    )


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
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    work = Path(work_dir)
    resume = prepare_work_dir(work, fp)
    df = pd.concat([pd.read_parquet(p) for p in dataset_parquets], ignore_index=True)
    if df.empty:
        raise ValueError(f"{stage}: the SFT dataset {dataset_parquets} is empty")
    dataset = sft_dataset(df).shuffle(seed=seed)
    args = make_args(SFTConfig, dict(stage_cfg["trl"]), work, seed, stage)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **_model_kwargs())
    log.info("%s: SFT on %d examples from %s", stage, len(dataset), dataset_parquets)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[metrics_callback(work / "metrics.jsonl")],
    )
    trainer.train(resume_from_checkpoint=resume)
    _finish(trainer, tokenizer, work, model_out, metrics_out)


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
    """Logit KD (soft targets from the teacher + the dataset's hard targets) via TRL's GKDTrainer."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    work = Path(work_dir)
    resume = prepare_work_dir(work, fp)
    df = pd.concat([pd.read_parquet(p) for p in dataset_parquets], ignore_index=True)
    dataset = Dataset.from_dict(
        {
            "messages": [
                [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                for p, c in zip(df["prompt"], df["completion"], strict=True)
            ]
        }
    )
    args = make_args(GKDConfig, {"lmbda": 0.0, **gkd_cfg, **stage_cfg["trl"]}, work, seed, stage)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **_model_kwargs())
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, **_model_kwargs())
    trainer = GKDTrainer(
        model=model,
        teacher_model=teacher,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[metrics_callback(work / "metrics.jsonl")],
    )
    trainer.train(resume_from_checkpoint=resume)
    _finish(trainer, tokenizer, work, model_out, metrics_out)
