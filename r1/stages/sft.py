"""The SFT stages (cold_start_sft, sft, sft_stabilize): SFT of a parent checkpoint on a dataset and files."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from r1.atomic import write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def sft(job: JobSpec) -> None:
    from r1.checkpoints import run_outputs
    from r1.data import decontaminate_rows
    from r1.sft_data import read_sft_files
    from r1.train import train_sft

    datasets = list(job.inputs("dataset"))
    files = job.cfg["files"]
    extra = None
    if files:  # e.g. sft_stabilize's safety/consistency data: validated, then trained on
        extra, _ = decontaminate_rows(
            read_sft_files(files, source=job.rule), "prompt", job.params["decontam"]
        )
    if job.inputs("safety") or job.inputs("replay"):  # the generated safety set (weight lambda) + replay
        extra = stabilize_dataset(job, extra)
    if extra is not None:
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


def stabilize_dataset(job: JobSpec, extra: pd.DataFrame | None) -> pd.DataFrame:
    """sft_stabilize's data: the generated safety set and the stage's files, weighted `safety_weight`
    (lambda), plus a `replay_fraction` share of the rejection-sampled reasoning rows (weight 1) so the stage
    does not erase the first SFT."""
    cfg = job.cfg
    lam = 1.0 if cfg.get("safety_weight") is None else float(cfg["safety_weight"])
    parts = []
    if job.inputs("safety"):
        parts.append(pd.read_parquet(job.inp("safety")))
    if extra is not None and len(extra):
        parts.append(extra)
    safety = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["prompt", "completion"])
    safety = safety[["prompt", "completion"]].assign(kind="safety", weight=lam)
    replay = pd.DataFrame(columns=["prompt", "completion"])
    frac = float(cfg.get("replay_fraction", 0.0))
    if frac and job.inputs("replay"):
        pool = pd.read_parquet(job.inp("replay"))
        if "kind" in pool.columns:
            pool = pool[pool["kind"] == "reasoning"]
        want = round(frac / (1 - frac) * len(safety)) if len(safety) else len(pool)
        replay = pool.sample(n=min(want, len(pool)), random_state=job.seed + 23)
        if len(replay) < want:
            log.warning("sft_stabilize: replay wanted %d reasoning rows, only %d exist", want, len(replay))
    replay = replay[["prompt", "completion"]].assign(kind="reasoning_replay", weight=1.0)
    data = pd.concat([safety, replay], ignore_index=True)
    if lam == 1.0:  # plain SFT loss: no per-example weights needed
        data = data.drop(columns=["weight"])
    log.info(
        "sft_stabilize: %d safety rows (weight %g), %d replayed reasoning rows (weight 1)",
        len(safety),
        lam,
        len(replay),
    )
    return data
