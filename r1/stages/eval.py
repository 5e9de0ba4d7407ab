"""Evaluation: one model on one benchmark, and the table over all of them."""

from __future__ import annotations

import logging
from pathlib import Path

from r1.atomic import write_json, write_parquet
from r1.rulekit import JobSpec

log = logging.getLogger(__name__)


def eval_generate(job: JobSpec) -> None:
    from r1.benchmarks import BenchmarkSpec, load_benchmark
    from r1.eval.runner import THINK_PREFILL, EvalProtocol, evaluate
    from r1.sampling import generator_options

    cfg, gen = job.cfg, job.params["generation"]
    bench = job.params["benchmark"]
    protocol = EvalProtocol(
        k=cfg["k"],
        temperature=cfg["temperature"],
        top_p=cfg["top_p"],
        max_new_tokens=cfg["max_new_tokens"],
        prompt_style=cfg["prompt_style"],
        prefill=THINK_PREFILL if cfg["prefill_think"] else "",
        seed=job.seed,
        pass_ks=tuple(cfg["pass_ks"]),
        grader_mode=job.params["grading"]["mode"],
        grader_timeout_s=job.params["grading"]["timeout_s"],
    )
    spec = BenchmarkSpec.from_config(bench)
    samples, summary = evaluate(
        job.inp("model"),
        load_benchmark(spec),
        protocol,
        model_name=job.wildcards["model"],
        benchmark_name=bench["name"],
        generator_options={
            "backend": gen["backend"],
            **generator_options(gen, job.gpus),
        },
    )
    write_parquet(job.out("samples"), samples)
    write_json(job.out("summary"), summary)
    log.info("eval %s × %s: %s", job.wildcards["model"], bench["name"], summary)


def eval_table(job: JobSpec) -> None:
    import json

    from r1.eval.table import build_table, plot_pass1_by_stage, write_table

    paths = job.inputs("summaries") + job.inputs(
        "task_summaries"
    )  # math, then code / choice / safety / judged
    table = build_table([json.loads(Path(p).read_text()) for p in paths])
    write_table(table, job.out("csv"), job.out("md"), job.out("html"))
    scored = table[table["pass@1"].notna()]  # safety and judged rows have no pass@1
    plot_pass1_by_stage(scored, job.out("plot"), stage_order=job.params["model_order"])
    log.info("eval table:\n%s", Path(job.out("md")).read_text())
