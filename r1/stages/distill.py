"""Distillation: teacher generation in shards, the verified student dataset, student training."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def distill_generate(job: JobSpec) -> None:
    """Teacher generation for one shard of the distillation prompts."""
    from r1.sampling import prompt_rows, sample_job

    cfg = job.cfg
    shard, n_shards = int(job.wildcards["shard"]), cfg["num_shards"]
    rows = prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed + 13)
    rows = rows.iloc[shard::n_shards].reset_index(drop=True)
    desc = f"teacher shard {shard}/{n_shards}"
    samples = sample_job(job, job.inp("teacher"), rows, prompt_style="chat", seed=job.seed + shard, desc=desc)
    samples["shard"] = shard
    write_parquet(job.out("samples"), samples)


def distill_dataset(job: JobSpec) -> None:
    """Verify/filter the teacher's samples into the student SFT set (the paper keeps verified ones only)."""
    from r1.filters import apply_filters, drop_counts, sft_rows

    cfg = job.cfg
    samples = pd.concat([pd.read_parquet(p) for p in job.inputs("shards")], ignore_index=True)
    verified = cfg["keep"] == "verified"
    filtered = apply_filters(samples, {"require_correct": verified, **cfg["filters"]})
    kept = filtered[filtered["keep"]]
    dataset = sft_rows(kept).assign(verified=[c is True for c in kept["correct"]])
    n_fill = max(0, cfg["min_examples"] - len(dataset))
    if n_fill:
        # Not enough verified samples (a weak teacher): fill with the least-bad unverified ones, flagged.
        rest = filtered[~filtered["keep"]].copy()
        rest["_rank"] = rest["reason"].map(lambda r: 0 if r in ("incorrect", "unparseable_gold") else 1)
        pool = rest.sort_values(["_rank", "n_tokens"], kind="stable").head(n_fill)
        log.warning(
            "distill: only %d verified teacher samples; filling %d unverified ones (flagged verified=False)",
            len(dataset),
            len(pool),
        )
        dataset = pd.concat([dataset, sft_rows(pool).assign(verified=False)], ignore_index=True)
    if dataset.empty:
        raise ValueError("distill: no teacher sample survived; raise num_prompts or set distill.min_examples")
    write_parquet(job.out("dataset"), dataset)
    stats = {
        "filter": drop_counts(filtered),
        "dataset_rows": len(dataset),
        "verified_rows": int(dataset["verified"].sum()),
        "yield": float(filtered["keep"].mean()) if len(filtered) else 0.0,
        "n_shards": cfg["num_shards"],
    }
    write_json(job.out("stats"), stats)
    log.info("distill dataset: %s", stats)


def distill_student(job: JobSpec) -> None:
    """Initialise one student (HF dir or random init, the teacher's tokenizer), then SFT or logit KD."""
    from r1.checkpoints import run_outputs
    from r1.models import prepare_student
    from r1.train import train_gkd, train_sft

    cfg = job.cfg
    student = job.params["student"]
    init_dir = Path(job.out("model")).parent / "init"
    if not (init_dir / "config.json").exists():
        prepare_student(student, job.inp("teacher"), init_dir, job.seed)
    common = dict(
        dataset_parquets=[job.inp("dataset")],
        stage_cfg=cfg,
        stage=f"distill_{student['name']}",
        **run_outputs(job),
    )
    if cfg["method"] == "gkd":
        train_gkd(model_dir=str(init_dir), teacher_dir=job.inp("teacher"), gkd_cfg=cfg["gkd"], **common)
    else:
        train_sft(model_dir=str(init_dir), **common)
