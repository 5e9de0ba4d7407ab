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

from r1 import tracking
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
        tracking.reset(work_dir)
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


def nonfinite_guard():
    """Skip an optimizer step whose gradients are not finite (and count it as `nonfinite_skipped`).

    One NaN/inf gradient step turns every weight and Adam moment into NaN for good; measured on one H200
    (docs/results.md, E1): a GRPO run at 98% held-out accuracy produced a NaN gradient at step 120 (near-
    deterministic policy, the k3 KL estimator exp(ref - logp) overflowing) and never recovered. TRL and
    transformers do not guard against it (transformers only filters NaN losses out of the logged mean), so
    r1 drops such a step's gradients before the optimizer sees them. With DeepSpeed the engine owns the
    gradients (p.grad is None here) and this guard does nothing.
    """
    from transformers import TrainerCallback

    class NonFiniteGuard(TrainerCallback):
        skipped = 0

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            import torch

            grads = [p.grad for p in model.parameters() if p.grad is not None] if model is not None else []
            if not grads or bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()):
                return
            for p in model.parameters():
                p.grad = None  # torch optimizers skip parameters without a gradient
            self.skipped += 1
            log.warning(
                "step %d: non-finite gradient, optimizer step skipped (%d so far)",
                state.global_step + 1,
                self.skipped,
            )

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs is not None and "loss" in logs:
                logs["nonfinite_skipped"] = self.skipped

    return NonFiniteGuard()


def training_callbacks(work: Path) -> list:
    """Callbacks of every r1 training stage: the NaN guard (first, so the metrics see its count), metrics,
    live tracking (r1.tracking: TensorBoard by default)."""
    return [nonfinite_guard(), metrics_callback(work / "metrics.jsonl"), *tracking.callbacks(work)]


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


def grpo_trainer_class():
    """TRL's GRPOTrainer, with its transformers rollouts sent through r1's StaticCacheDecoder on CUDA.

    TRL's own path is `model.generate` with a dynamic cache (or, with `cache_implementation="static"`, a static
    cache with compilation disabled); both are far from what the GPU can do at RL batch sizes (README, "Running on GPUs").
    The fast path is taken when the policy is on CUDA, `trl.cache_implementation` is unset or "static", and
    nothing needs TRL's generate: no vLLM, no continuous batching, no images, no top-k / min-p / repetition
    penalty, no ZeRO-3 / FSDP sharding (gathered weights change address every step). Otherwise: TRL unchanged.
    """
    import torch
    from trl import GRPOTrainer

    from r1.generation import StaticCacheDecoder, use_static_decoder

    class R1GRPOTrainer(GRPOTrainer):
        _r1_decoder = None

        def _r1_fast_rollouts(self, images, multimodal_fields) -> bool:
            args = self.args
            if args.use_vllm or getattr(self, "use_transformers_continuous_batching", False):
                return False
            if images is not None and any(im is not None for im in images) or multimodal_fields:
                return False
            if (self.top_k or 0) > 0 or self.min_p is not None or (self.repetition_penalty or 1.0) != 1.0:
                return False
            if self.is_fsdp_enabled or (self.is_deepspeed_enabled and self._dist.is_zero3):
                return False
            return use_static_decoder(args.cache_implementation, str(self.accelerator.device))

        def _generate_single_turn(
            self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False
        ):
            from trl.models import unwrap_model_for_generation
            from trl.trainer.utils import pad

            if not self._r1_fast_rollouts(images, multimodal_fields):
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, has_tool_images=has_tool_images
                )
            device = self.accelerator.device
            pad_id = self._tokenizer.pad_token_id
            prompts = [torch.tensor(ids) for ids in prompt_ids]
            input_ids = pad(prompts, padding_value=pad_id, padding_side="left").to(device)
            mask = pad([torch.ones_like(t) for t in prompts], padding_value=0, padding_side="left").to(device)
            with (
                unwrap_model_for_generation(
                    self.model_wrapped,
                    self.accelerator,
                    gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
                ) as model,
                torch.no_grad(),
            ):
                if self._r1_decoder is None or self._r1_decoder.source is not model:
                    # bf16 (fp16) rollouts from the fp32 master weights: a private copy refreshed per rollout.
                    dtype = torch.bfloat16 if self.args.bf16 else torch.float16 if self.args.fp16 else None
                    self._r1_decoder = StaticCacheDecoder(model, weights_dtype=dtype)
                new = self._r1_decoder.generate(
                    input_ids,
                    mask,
                    max_new_tokens=self.max_completion_length,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    eos_token_ids=self.eos_token_ids,
                    pad_token_id=pad_id,
                )
            if new is None:  # static cache too large for free memory
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, has_tool_images=has_tool_images
                )
            # Keep each completion up to and including its first EOS, as TRL's generate path does.
            is_eos = torch.isin(new, torch.tensor(self.eos_token_ids, device=new.device))
            lengths = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, new.size(1)).tolist()
            rows = new.tolist()
            return [row[:n] for row, n in zip(rows, lengths, strict=True)], None

    return R1GRPOTrainer


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

    from r1.generation import use_static_decoder
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


def _attach_heldout(
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
        callbacks=training_callbacks(work),
    )
    _attach_heldout(
        trainer, heldout, trainer.processing_class, stage_cfg["prompt_style"], grading, work, seed
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
    heldout: dict | None = None,
    grading: dict | None = None,
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
        callbacks=training_callbacks(work),
    )
    tokenizer.padding_side = "left"  # generation in the held-out callback; SFT pads by its own collator
    _attach_heldout(trainer, heldout, tokenizer, "chat", grading or {}, work, seed)
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
        callbacks=training_callbacks(work),
    )
    trainer.train(resume_from_checkpoint=resume)
    _finish(trainer, tokenizer, work, model_out, metrics_out)
