"""The generate-and-filter stages that build SFT data: cold start and rejection sampling."""

from __future__ import annotations

import logging

import pandas as pd

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def cold_start_generate(job: JobSpec) -> None:
    """Sample R1-Zero (or a teacher), keep correct readable outputs, reformat, add seed CoT data and files."""
    from r1.data import decontaminate_rows, load_source
    from r1.filters import apply_filters, drop_counts, sft_rows
    from r1.prompts import user_message
    from r1.sampling import prompt_rows, sample_job
    from r1.sft_data import read_sft_files

    cfg = job.cfg
    model_dir = cfg["teacher_path"] if cfg["source"] == "teacher" else job.inp("model")
    rows = prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed)
    style = "r1_zero" if cfg["source"] == "rl_zero" else "chat"
    samples = sample_job(job, model_dir, rows, prompt_style=style, seed=job.seed, desc="cold_start")
    filtered = apply_filters(samples, {"require_think_format": True, **cfg["filters"]})
    write_parquet(job.out("samples"), filtered)
    parts = [sft_rows(filtered[filtered["keep"]])]
    seed_counts = {}
    for spec in cfg["seed_sources"]:
        good, _ = load_source(spec, job.seed)
        good = [g for g in good if g.get("reasoning")]
        seed_counts[spec["name"]] = len(good)
        parts.append(
            pd.DataFrame(
                {
                    "id": [g["id"] for g in good],
                    "source": spec["name"],
                    "prompt": [user_message(g["problem"]) for g in good],
                    "completion": [
                        f"<think>\n{g['reasoning'].strip()}\n</think>\n\n"
                        f"The answer is $\\boxed{{{g['answer']}}}$."
                        for g in good
                    ],
                }
            )
        )
    if cfg["files"]:
        parts.append(read_sft_files(cfg["files"], source="user_cold_start"))
    dataset, contaminated = decontaminate_rows(
        pd.concat(parts, ignore_index=True), "prompt", job.params["decontam"]
    )
    if dataset.empty:
        raise ValueError("cold_start: no example survived the filters and no seed_sources/files were given")
    write_parquet(job.out("dataset"), dataset)
    stats = {
        "filter": drop_counts(filtered),
        "seed_sources": seed_counts,
        "dataset_rows": len(dataset),
        "decontaminated": len(contaminated),
    }
    write_json(job.out("stats"), stats)
    log.info("cold_start: %s", stats)


def rejection_sampling(job: JobSpec) -> None:
    """k samples per prompt from the reasoning-RL model; keep verified clean ones; add non-reasoning SFT."""
    from r1.data import decontaminate_rows
    from r1.filters import apply_filters, drop_counts, sft_rows
    from r1.sampling import prompt_rows, sample_job
    from r1.sft_data import read_sft_files

    cfg = job.cfg
    rows = prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed + 7)
    samples = sample_job(
        job, job.inp("model"), rows, prompt_style="chat", seed=job.seed, desc="rejection_sampling"
    )
    filtered = apply_filters(samples, {"require_correct": True, **cfg["filters"]})
    write_parquet(job.out("samples"), filtered)
    reasoning = sft_rows(filtered[filtered["keep"]])
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
        "reasoning_rows": len(reasoning),
        "non_reasoning_rows": len(non_reasoning),
        "decontaminated": len(contaminated),
        "dataset_rows": len(dataset),
    }
    write_json(job.out("stats"), stats)
    log.info("rejection_sampling: %s", stats)
