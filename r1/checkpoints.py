"""Checkpoints and resume for the training stages: run fingerprints, the checkpoint folder, per-step metrics.

Trainer state lives in an undeclared `checkpoints/` folder beside the declared model directory (Snakemake
deletes declared directory outputs before a job starts); a rerun resumes from the last checkpoint if it was
made with the same config and inputs, else it starts clean. One JSON line per optimizer step goes to
`checkpoints/metrics.jsonl`; the finished run copies it to the declared metrics file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

from r1 import tracking
from r1.atomic import atomic_dir, atomic_path

log = logging.getLogger(__name__)


FINGERPRINT = "r1_fingerprint.txt"


def fingerprint(params: dict, inputs: list[str]) -> str:
    """Identity of a training run: its config slice and its inputs' contents. Upstream manifests are skipped
    (they carry host, times and job ids: the same run on Slurm and locally must get the same fingerprint);
    an input an upstream job made takes the content hash that job's manifest recorded, so a model directory
    is not hashed again."""
    from r1.manifest import MANIFEST_NAME, sha256_path, upstream_manifest

    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for p in sorted(inputs):
        if Path(p).name == MANIFEST_NAME:
            continue
        h.update(f"{p}\0{_recorded_hash(p, upstream_manifest(p)) or sha256_path(p)}\n".encode())
    return h.hexdigest()


def _recorded_hash(path: str, manifest: Path | None) -> str | None:
    """The content hash `manifest` recorded for `path` among its outputs, if it did."""
    if manifest is None:
        return None
    target = Path(path).resolve()
    outputs = json.loads(manifest.read_text()).get("outputs", {})
    return next((h for p, h in outputs.items() if Path(p).resolve() == target), None)


def checkpoint_dir(job) -> str:
    """A training job's checkpoint folder: `checkpoints/` beside its declared model directory."""
    return str(Path(job.out("model")).parent / "checkpoints")


def run_outputs(job) -> dict:
    """The keyword arguments every trainer takes from its job: where it checkpoints and writes, its seed and
    fingerprint (r1.grpo.train_rl, r1.train.train_sft, r1.train.train_gkd)."""
    return {
        "work_dir": checkpoint_dir(job),
        "model_out": job.out("model"),
        "metrics_out": job.out("metrics"),
        "seed": job.seed,
        "fp": job_fingerprint(job),
    }


def job_fingerprint(job) -> str:
    """fingerprint() of a job (r1.rulekit.JobSpec): its params and every input except the r1 source files."""
    return fingerprint(job.params, [p for name, ps in job.input.items() if name != "code" for p in ps])


def prepare_work_dir(work_dir: Path, fp: str):
    """Return the checkpoint to resume from (or None); wipe checkpoints made by a different run."""
    from transformers.trainer_utils import get_last_checkpoint

    fp_file = work_dir / FINGERPRINT
    if work_dir.exists() and (not fp_file.exists() or fp_file.read_text().strip() != fp):
        log.info("checkpoints in %s belong to another config or inputs: starting from scratch", work_dir)
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    fp_file.write_text(fp + "\n")
    # A kill can land in a checkpoint write: only a checkpoint with its trainer state is complete.
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
        """One JSON line per logged step: reward, per-reward means, KL, lengths, clip ratios, loss, lr, and
        `step_time` (seconds of the last optimizer step, held-out evaluation excluded) where the trainer does
        not log its own (GRPO does; SFT does not)."""

        started = last_step_s = None

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.started is not None:
                self.last_step_s = time.perf_counter() - self.started

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "epoch": state.epoch}
            row.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
            if "loss" in row and "step_time" not in row and self.last_step_s is not None:
                row["step_time"] = round(self.last_step_s, 4)
            row.update(peak_memory())
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")

    return MetricsJsonl()


def peak_memory() -> dict:
    """Peak memory of this process so far, in GB: `peak_gpu_mem_gb` (torch's allocator, this process's
    current device) on CUDA, `peak_rss_gb` (resident set) always — so runs that share a GPU are compared by
    their own footprint, not by nvidia-smi's total."""
    import resource
    import sys

    out = {"peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
    return out


def nonfinite_guard():
    """Skip an optimizer step whose gradients are not finite (and count it as `nonfinite_skipped`).

    One NaN/inf gradient step turns every weight and Adam moment into NaN for good; measured on one H200
    (docs/results.md, E1): a GRPO run at 98% held-out reward produced a NaN gradient at step 120 (near-
    deterministic policy, the unclamped k3 KL estimator exp(ref - logp)) and never recovered. TRL and
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


def finish(trainer, tokenizer, work_dir: Path, model_out: str, metrics_out: str | None) -> None:
    if trainer.accelerator.is_main_process:
        with atomic_dir(model_out) as tmp:
            trainer.save_model(str(tmp))
            tokenizer.save_pretrained(tmp)
        if metrics_out:
            with atomic_path(metrics_out) as tmp:
                src = work_dir / "metrics.jsonl"
                shutil.copyfile(src, tmp) if src.exists() else tmp.write_text("")
    trainer.accelerator.wait_for_everyone()


def train_resumable(build, *, work_dir: str | Path, fp: str, model_out: str, metrics_out: str | None) -> None:
    """Run a training job: prepare its checkpoint folder, build the trainer with `build(work_dir, callbacks)`
    (they skip non-finite steps and log per-step metrics), train from this run's last checkpoint, save model
    and metrics."""
    work = Path(work_dir)
    resume = prepare_work_dir(work, fp)
    trainer = build(work, training_callbacks(work))
    trainer.train(resume_from_checkpoint=resume)
    finish(trainer, trainer.processing_class, work, model_out, metrics_out)
