"""The SFT stages (cold_start_sft, sft, sft_stabilize): SFT of a parent checkpoint on a dataset and files."""

from __future__ import annotations

from pathlib import Path

from r1.atomic import write_parquet
from r1.rulekit import JobSpec


def sft(job: JobSpec) -> None:
    from r1.checkpoints import run_outputs
    from r1.data import decontaminate_rows
    from r1.sft_data import read_sft_files
    from r1.train import train_sft

    datasets = list(job.inputs("dataset"))
    files = job.cfg["files"]
    if files:  # e.g. sft_stabilize's safety/consistency data: validated, then trained on
        extra, _ = decontaminate_rows(
            read_sft_files(files, source=job.rule), "prompt", job.params["decontam"]
        )
        extra_path = Path(job.out("model")).parent / "extra_data.parquet"
        write_parquet(extra_path, extra)
        datasets.append(str(extra_path))
    train_sft(
        model_dir=job.inp("model"),
        dataset_parquets=datasets,
        stage_cfg=job.cfg,
        stage=job.rule,
        heldout=job.params.get("heldout"),
        grading=job.params.get("grading"),
        **run_outputs(job),
    )
