"""Distillation: teacher generation in shards, the verified student dataset, student training."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def distill_generate(job: JobSpec) -> None:
    """Teacher generation for one shard of the distillation prompts (and of `unreferenced_prompts`)."""
    from r1.data import decontaminate_rows
    from r1.prompts import MATH_INSTRUCTION
    from r1.sampling import prompt_rows, sample_job
    from r1.sft_data import read_prompt_files

    cfg = job.cfg
    shard, n_shards = int(job.wildcards["shard"]), cfg["num_shards"]
    rows = prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed + 13).assign(
        instruction=MATH_INSTRUCTION
    )
    if cfg["unreferenced_prompts"]:  # prompts without a reference: their samples can only fill
        extra, _ = decontaminate_rows(
            read_prompt_files(cfg["unreferenced_prompts"]), "problem", job.params["decontam"]
        )
        rows = pd.concat([rows, extra], ignore_index=True)
    rows = rows.iloc[shard::n_shards].reset_index(drop=True)
    desc = f"teacher shard {shard}/{n_shards}"
    samples = sample_job(job, job.inp("teacher"), rows, prompt_style="chat", seed=job.seed + shard, desc=desc)
    samples["shard"] = shard
    write_parquet(job.out("samples"), samples)


def distill_dataset(job: JobSpec) -> None:
    """Verify/filter the teacher's samples into the student SFT set: verified samples only (as in the paper);
    too few fail the job, unless `fill: unreferenced` tops them up with samples of prompts without a
    reference. A sample the grader marked incorrect is never used."""
    from r1.filters import apply_filters, drop_counts, select_samples, sft_rows

    cfg = job.cfg
    samples = pd.concat([pd.read_parquet(p) for p in job.inputs("shards")], ignore_index=True)
    filtered = apply_filters(samples, cfg["filters"])
    kept, selected = select_samples(filtered, "distill", cfg["min_examples"], cfg["fill"])
    dataset = sft_rows(kept)
    if dataset.empty:
        raise ValueError(
            f"distill: no teacher sample survived ({selected}); raise num_prompts or set distill.min_examples"
        )
    write_parquet(job.out("dataset"), dataset)
    stats = {
        "filter": drop_counts(filtered),
        "selected": selected,
        "dataset_rows": len(dataset),
        "verified_rows": int(dataset["verified"].sum()),
        "unreferenced_rows": int((~dataset["reference"]).sum()),
        "yield": float(filtered["keep"].mean()) if len(filtered) else 0.0,
        "n_shards": cfg["num_shards"],
    }
    write_json(job.out("stats"), stats)
    log.info("distill dataset: %s", stats)


def distill_student(job: JobSpec) -> None:
    """Initialise one student (HF dir, random init with the teacher's tokenizer, or the base with layers
    kept), then train it by its method (`students[].method`, else `distill.method`): sft, kd (logit KD,
    r1/kd.py) or gkd (TRL's GKD). With `distill.heldout` (method sft) it is evaluated on held-out sets during
    training."""
    from r1.checkpoints import job_fingerprint, run_outputs
    from r1.models import prepare_student
    from r1.train import train_gkd, train_sft

    cfg = job.cfg
    student = job.params["student"]
    folder = Path(job.out("model")).parent
    init_dir, init_facts = folder / "init", folder / "init.json"
    fp = job_fingerprint(job)  # another config, base or teacher: a new init (and new checkpoints)
    made = json.loads(init_facts.read_text()) if init_facts.exists() else {}
    if made.get("fingerprint") != fp or not (init_dir / "config.json").exists():
        base = job.inputs("base")[0] if student.get("from_base") is not None else None  # [dir, manifest]
        facts = prepare_student(student, job.inp("teacher"), init_dir, job.seed, base_dir=base)
        write_json(init_facts, {**facts, "fingerprint": fp})
        log.info("student %s: %s", student["name"], facts)
    common = dict(
        dataset_parquets=[job.inp("dataset")],
        stage_cfg=cfg,
        stage=f"distill_{student['name']}",
        **run_outputs(job),
    )
    method = student.get("method") or cfg["method"]
    if method == "kd":
        from r1.kd import train_kd

        train_kd(model_dir=str(init_dir), teacher_dir=job.inp("teacher"), kd_cfg=cfg["kd"], **common)
    elif method == "gkd":
        from r1.kd import check_tokenizers_match

        check_tokenizers_match(str(init_dir), job.inp("teacher"))
        train_gkd(model_dir=str(init_dir), teacher_dir=job.inp("teacher"), gkd_cfg=cfg["gkd"], **common)
    else:
        heldout = {"heldout": job.params.get("heldout"), "grading": job.params.get("grading")}
        train_sft(model_dir=str(init_dir), **common, **heldout)
