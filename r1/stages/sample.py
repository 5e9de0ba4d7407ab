"""The generate-and-filter stages that build SFT data: cold start and rejection sampling."""

from __future__ import annotations

import logging

import pandas as pd

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def cold_start_generate(job: JobSpec) -> None:
    """Sample R1-Zero (or a teacher), keep verified readable outputs, reformat, add seeds and files."""
    from r1.data import decontaminate_rows
    from r1.filters import apply_filters, drop_counts, select_samples, sft_rows
    from r1.sampling import prompt_rows, sample_job
    from r1.sft_data import read_sft_files, seed_examples

    cfg = job.cfg
    model_dir = cfg["teacher_path"] if cfg["source"] == "teacher" else job.inp("model")
    rows = prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed)
    style = "r1_zero" if cfg["source"] == "rl_zero" else "chat"
    samples = sample_job(job, model_dir, rows, prompt_style=style, seed=job.seed, desc="cold_start")
    filtered = apply_filters(samples, {"require_think_format": True, **cfg["filters"]})
    write_parquet(job.out("samples"), filtered)
    kept, selected = select_samples(filtered, "cold_start", cfg["min_examples"], cfg["fill"])
    parts = [sft_rows(kept)]
    seed_counts = {}
    min_readability = cfg["filters"].get("min_readability", 0.0)
    for spec in cfg["seed_sources"]:
        seeds, seed_counts[spec["name"]] = seed_examples(spec, job.seed, min_readability)
        parts.append(seeds)
    if cfg["files"]:
        parts.append(read_sft_files(cfg["files"], source="user_cold_start"))
    dataset, contaminated = decontaminate_rows(
        pd.concat(parts, ignore_index=True), ["prompt", "completion"], job.params["decontam"]
    )
    if dataset.empty:
        raise ValueError("cold_start: no example survived the filters and no seed_sources/files were given")
    for name in seed_counts:
        seed_counts[name]["decontaminated"] = int((contaminated["source"] == name).sum())
        if job.params["decontam"]["drop"]:
            seed_counts[name]["kept"] -= seed_counts[name]["decontaminated"]
    write_parquet(job.out("dataset"), dataset)
    stats = {
        "filter": drop_counts(filtered),
        "selected": selected,
        "seed_sources": seed_counts,
        "dataset_rows": len(dataset),
        "decontaminated": len(contaminated),
    }
    write_json(job.out("stats"), stats)
    log.info("cold_start: %s", stats)


def rejection_sampling(job: JobSpec) -> None:
    """k samples per prompt from the reasoning-RL model; keep verified clean ones; add non-reasoning SFT."""
    from r1.data import decontaminate_rows
    from r1.filters import apply_filters, drop_counts, select_samples, sft_rows
    from r1.sampling import prompt_rows, sample_job
    from r1.sft_data import read_sft_files

    cfg = job.cfg
    rows = prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed + 7)
    samples = sample_job(
        job, job.inp("model"), rows, prompt_style="chat", seed=job.seed, desc="rejection_sampling"
    )
    filtered = apply_filters(samples, cfg["filters"])
    write_parquet(job.out("samples"), filtered)
    kept, selected = select_samples(filtered, "rejection_sampling", cfg["min_examples"], cfg["fill"])
    reasoning = sft_rows(kept)
    non_reasoning, contaminated = decontaminate_rows(
        read_sft_files(cfg["non_reasoning_files"], source="non_reasoning"),
        "prompt",
        job.params["decontam"],
    )
    dataset = pd.concat(
        [reasoning.assign(kind="reasoning"), non_reasoning.assign(kind="non_reasoning")], ignore_index=True
    )
    if dataset.empty:
        raise ValueError("rejection_sampling: no sample kept and no non_reasoning_files given")
    write_parquet(job.out("dataset"), dataset)
    stats = {
        "filter": drop_counts(filtered),
        "selected": selected,
        "reasoning_rows": len(reasoning),
        "non_reasoning_rows": len(non_reasoning),
        "decontaminated": len(contaminated),
        "dataset_rows": len(dataset),
    }
    write_json(job.out("stats"), stats)
    log.info("rejection_sampling: %s", stats)
