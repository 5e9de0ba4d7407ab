"""Evaluation: benchmarks, the paper's sampling protocol, metrics (pass@k, cons@k), results table, CLI."""

from r1.benchmarks import DEFAULT_BENCHMARKS, BenchmarkSpec, load_benchmark, resolve_benchmark
from r1.eval.metrics import cons_at_k, pass_at_k, summarize
from r1.eval.runner import EvalProtocol, evaluate
from r1.eval.table import build_table, plot_pass1_by_stage, write_table

__all__ = [
    "DEFAULT_BENCHMARKS",
    "BenchmarkSpec",
    "EvalProtocol",
    "build_table",
    "cons_at_k",
    "evaluate",
    "load_benchmark",
    "pass_at_k",
    "plot_pass1_by_stage",
    "resolve_benchmark",
    "summarize",
    "write_table",
]
