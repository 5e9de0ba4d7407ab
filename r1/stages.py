"""Stage entry points: each takes a JobSpec (inputs, outputs, params) from r1.rulekit and calls one module."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def _gpus(job: JobSpec) -> int:
    return int(job.resources.get("gpu", 0) or 0)


def _work_dir(job: JobSpec) -> str:
    return str(Path(job.out("model")).parent / "checkpoints")


def _fingerprint(job: JobSpec) -> str:
    from r1.checkpoints import fingerprint

    return fingerprint(job.params, [p for name, ps in job.input.items() if name != "code" for p in ps])


def base_model(job: JobSpec) -> None:
    from r1.models import prepare_base_model

    facts = prepare_base_model(job.cfg, job.out("model"), job.seed)
    write_json(job.out("info"), facts)


def data_prepare(job: JobSpec) -> None:
    from r1.data import build_dataset

    cfg = job.cfg
    decon = cfg.get("decontamination", {})
    train, evals, quarantine, contamination, stats = build_dataset(
        cfg["sources"],
        job.params["benchmarks"],
        job.seed,
        cfg.get("eval_fraction", 0.05),
        ngram=decon.get("ngram", 10),
        drop_contaminated=decon.get("drop", True),
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


def rl(job: JobSpec) -> None:
    from r1.grpo import train_grpo

    train_grpo(
        model_dir=job.inp("model"),
        train_parquet=job.inp("train"),
        stage_cfg=job.cfg,
        stage=job.rule,
        grading=job.params["grading"],
        work_dir=_work_dir(job),
        model_out=job.out("model"),
        metrics_out=job.out("metrics"),
        seed=job.seed,
        fp=_fingerprint(job),
    )


def sft(job: JobSpec) -> None:
    from r1.data import decontaminate_rows
    from r1.sft_data import read_sft_files
    from r1.train import train_sft

    datasets = list(job.inputs("dataset"))
    files = job.cfg.get("files") or []
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
        work_dir=_work_dir(job),
        model_out=job.out("model"),
        metrics_out=job.out("metrics"),
        seed=job.seed,
        fp=_fingerprint(job),
    )


def _prompt_rows(train_parquet: str, n: int, seed: int) -> pd.DataFrame:
    train = pd.read_parquet(train_parquet)
    return train.sample(n=min(n, len(train)), random_state=seed + 1).reset_index(drop=True)


def cold_start_generate(job: JobSpec) -> None:
    """Sample R1-Zero (or a teacher), keep correct + readable outputs, reformat, add seed CoT data and user files."""
    from r1.data import decontaminate_rows, load_source
    from r1.filters import apply_filters, drop_counts, sft_rows
    from r1.prompts import user_message
    from r1.sampling import sample_and_grade
    from r1.sft_data import read_sft_files

    cfg = job.cfg
    model_dir = cfg["teacher_path"] if cfg["source"] == "teacher" else job.inp("model")
    rows = _prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed)
    samples = sample_and_grade(
        model_dir,
        rows,
        prompt_style="r1_zero" if cfg["source"] == "rl_zero" else "chat",
        samples_per_prompt=cfg["samples_per_prompt"],
        temperature=cfg.get("temperature", 1.0),
        max_new_tokens=cfg["max_new_tokens"],
        generation=job.params["generation"],
        grading=job.params["grading"],
        seed=job.seed,
        desc="cold_start",
        n_gpus=_gpus(job),
    )
    filtered = apply_filters(samples, {"require_think_format": True, **cfg.get("filters", {})})
    write_parquet(job.out("samples"), filtered)
    parts = [sft_rows(filtered[filtered["keep"]])]
    seed_counts = {}
    for spec in cfg.get("seed_sources", []):
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
                        f"<think>\n{g['reasoning'].strip()}\n</think>\n\nThe answer is $\\boxed{{{g['answer']}}}$."
                        for g in good
                    ],
                }
            )
        )
    if cfg.get("files"):
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
    """k samples per prompt from the reasoning-RL model; keep verified-correct clean ones; merge non-reasoning SFT."""
    from r1.data import decontaminate_rows
    from r1.filters import apply_filters, drop_counts, sft_rows
    from r1.sampling import sample_and_grade
    from r1.sft_data import read_sft_files

    cfg = job.cfg
    rows = _prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed + 7)
    samples = sample_and_grade(
        job.inp("model"),
        rows,
        prompt_style="chat",
        samples_per_prompt=cfg["samples_per_prompt"],
        temperature=cfg.get("temperature", 0.7),
        max_new_tokens=cfg["max_new_tokens"],
        generation=job.params["generation"],
        grading=job.params["grading"],
        seed=job.seed,
        desc="rejection_sampling",
        n_gpus=_gpus(job),
    )
    filtered = apply_filters(samples, {"require_correct": True, **cfg.get("filters", {})})
    write_parquet(job.out("samples"), filtered)
    reasoning = sft_rows(filtered[filtered["keep"]])
    non_reasoning, contaminated = decontaminate_rows(
        read_sft_files(cfg.get("non_reasoning_files", []), source="non_reasoning"),
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


def distill_generate(job: JobSpec) -> None:
    """Teacher generation for one shard of the distillation prompts."""
    from r1.sampling import sample_and_grade

    cfg = job.cfg
    shard, n_shards = int(job.wildcards["shard"]), cfg["num_shards"]
    rows = _prompt_rows(job.inp("train"), cfg["num_prompts"], job.seed + 13)
    rows = rows.iloc[shard::n_shards].reset_index(drop=True)
    samples = sample_and_grade(
        job.inp("teacher"),
        rows,
        prompt_style="chat",
        samples_per_prompt=cfg.get("samples_per_prompt", 1),
        temperature=cfg.get("temperature", 0.7),
        max_new_tokens=cfg["max_new_tokens"],
        generation=job.params["generation"],
        grading=job.params["grading"],
        seed=job.seed + shard,
        desc=f"teacher shard {shard}/{n_shards}",
        n_gpus=_gpus(job),
    )
    samples["shard"] = shard
    write_parquet(job.out("samples"), samples)


def distill_dataset(job: JobSpec) -> None:
    """Verify/filter the teacher's samples into the student SFT set (the paper keeps verified samples only)."""
    from r1.filters import apply_filters, drop_counts, sft_rows

    cfg = job.cfg
    samples = pd.concat([pd.read_parquet(p) for p in job.inputs("shards")], ignore_index=True)
    verified = cfg.get("keep", "verified") == "verified"
    filtered = apply_filters(samples, {"require_correct": verified, **cfg.get("filters", {})})
    kept = filtered[filtered["keep"]]
    dataset = sft_rows(kept).assign(verified=[c is True for c in kept["correct"]])
    n_fill = max(0, cfg.get("min_examples", 0) - len(dataset))
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
    """Initialise one student (HF dir or random init with the teacher's tokenizer), then SFT or logit KD on it."""
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
        work_dir=_work_dir(job),
        model_out=job.out("model"),
        metrics_out=job.out("metrics"),
        seed=job.seed,
        fp=_fingerprint(job),
    )
    if cfg.get("method", "sft") == "gkd":
        train_gkd(
            model_dir=str(init_dir), teacher_dir=job.inp("teacher"), gkd_cfg=cfg.get("gkd", {}), **common
        )
    else:
        train_sft(model_dir=str(init_dir), **common)


def eval_generate(job: JobSpec) -> None:
    from r1.benchmarks import BenchmarkSpec, load_benchmark
    from r1.eval.runner import EvalProtocol, evaluate
    from r1.sampling import generator_options

    cfg, gen = job.cfg, job.params["generation"]
    bench = job.params["benchmark"]
    protocol = EvalProtocol(
        k=cfg["k"],
        temperature=cfg.get("temperature", 0.6),
        top_p=cfg.get("top_p", 0.95),
        max_new_tokens=cfg.get("max_new_tokens", 32768),
        prompt_style=cfg.get("prompt_style", "chat"),
        prefill="<think>\n" if cfg.get("prefill_think") else "",
        seed=job.seed,
        pass_ks=tuple(cfg.get("pass_ks", [1])),
        grader_mode=job.params["grading"]["mode"],
        grader_timeout_s=job.params["grading"].get("timeout_s", 2.0),
    )
    spec = BenchmarkSpec(**{k: v for k, v in bench.items() if k != "solution_field"})
    samples, summary = evaluate(
        job.inp("model"),
        load_benchmark(spec),
        protocol,
        model_name=job.wildcards["model"],
        benchmark_name=bench["name"],
        generator_options={
            "backend": gen.get("backend", "transformers"),
            **generator_options(gen, _gpus(job)),
        },
    )
    write_parquet(job.out("samples"), samples)
    write_json(job.out("summary"), summary)
    log.info("eval %s × %s: %s", job.wildcards["model"], bench["name"], summary)


def eval_table(job: JobSpec) -> None:
    import json

    from r1.eval.table import build_table, plot_pass1_by_stage, write_table

    summaries = [json.loads(Path(p).read_text()) for p in job.inputs("summaries")]
    table = build_table(summaries)
    write_table(table, job.out("csv"), job.out("md"), job.out("html"))
    plot_pass1_by_stage(table, job.out("plot"), stage_order=job.params["model_order"])
    log.info("eval table:\n%s", Path(job.out("md")).read_text())


def report(job: JobSpec) -> None:
    from r1.report import build_report_assets

    build_report_assets(job)
