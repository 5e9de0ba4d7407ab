"""The data stage: prompt sources -> validated, deduplicated, decontaminated train/eval prompts."""

from __future__ import annotations

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec


def data_prepare(job: JobSpec) -> None:
    from r1.data import build_dataset

    cfg = job.cfg
    decon = cfg["decontamination"]
    train, evals, quarantine, contamination, stats = build_dataset(
        cfg["sources"],
        job.params["benchmarks"],
        job.seed,
        cfg["eval_fraction"],
        ngram=decon["ngram"],
        drop_contaminated=decon["drop"],
    )
    if train.empty:
        raise ValueError(
            "data: no training rows left after validation, dedupe and decontamination; see "
            f"{job.out('quarantine')} and {job.out('contamination')}"
        )
    write_parquet(job.out("train"), train)
    write_parquet(job.out("eval"), evals)
    write_parquet(job.out("quarantine"), quarantine)
    write_parquet(job.out("contamination"), contamination)
    write_json(
        job.out("stats"),
        {
            "sources": stats,
            "train": len(train),
            "eval": len(evals),
            "quarantined": len(quarantine),
            "contaminated": len(contamination),
        },
    )
