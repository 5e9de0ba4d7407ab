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
    kept, selected = select_samples(filtered, "rejection_sampling", cfg["min_examples"], cfg["fill"])
    reasoning = sft_rows(kept)
    code_stats, all_samples = None, filtered.assign(task="math")
    if cfg["code_prompts"]:  # code tasks: a sample is kept when its code passes the tests (r1.sandbox)
        from r1.task_sampling import yield_stats

        code_samples, code_rows = code_rejection_sampling(job)
        all_samples = pd.concat([all_samples, code_samples.assign(task="code")], ignore_index=True)
        reasoning = pd.concat([reasoning, code_rows], ignore_index=True)
        code_stats = yield_stats(code_samples)
    write_parquet(job.out("samples"), all_samples)
    non_reasoning, contaminated = decontaminate_rows(
        read_sft_files(cfg["non_reasoning_files"], source="non_reasoning"),
        "prompt",
        job.params["decontam"],
    )
    generated = [pd.read_parquet(p) for p in job.inputs("non_reasoning")]  # sft_data: generated and judged
    non_reasoning = pd.concat([non_reasoning, *generated], ignore_index=True)
    dataset = pd.concat(
        [reasoning.assign(kind="reasoning"), non_reasoning.assign(kind="non_reasoning")], ignore_index=True
    )
    if dataset.empty:
        raise ValueError("rejection_sampling: no sample kept and no non-reasoning data (sft_data or files)")
    write_parquet(job.out("dataset"), dataset)
    stats = {
        "filter": drop_counts(filtered),
        "selected": selected,
        "code": code_stats,
        "reasoning_rows": len(reasoning),
        "non_reasoning_rows": len(non_reasoning),
        "non_reasoning_generated_rows": sum(len(g) for g in generated),
        "decontaminated": len(contaminated),
        "dataset_rows": len(dataset),
    }
    write_json(job.out("stats"), stats)
    log.info("rejection_sampling: %s", stats)


def code_rejection_sampling(job: JobSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample the stage's model on `code_prompts` code tasks; keep the samples whose code passes the tests.
    Returns (every sample with keep / reason, SFT rows of the kept ones as reasoning data)."""
    from r1.filters import to_reasoning_summary
    from r1.sampling import prompt_rows
    from r1.sandbox import shared_sandbox
    from r1.sandbox.client import sandbox_settings
    from r1.task_sampling import run_code_samples, sample_for_job

    cfg = job.cfg
    tasks = prompt_rows(job.inp("code_tasks"), cfg.get("code_prompts", 0), job.seed + 11)
    if tasks.empty:
        return pd.DataFrame(), pd.DataFrame(columns=["id", "source", "prompt", "completion"])
    samples = sample_for_job(job, job.inp("model"), {"code": tasks}, cfg, "rejection_sampling code")
    tested = run_code_samples(samples, tasks, shared_sandbox(*sandbox_settings(job.params.get("sandbox"))))
    kept = tested[tested["keep"]]
    rows = pd.DataFrame(
        {
            "id": kept["id"].tolist(),
            "source": kept["source"].tolist(),
            "prompt": kept["prompt"].tolist(),
            "completion": [to_reasoning_summary(c, None) for c in kept["completion"]],
        }
    )
    return tested, rows
