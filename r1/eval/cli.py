"""`python -m r1 eval`: evaluate any HF checkpoint directory on a default benchmark or any jsonl/parquet file.

Writes OUTDIR/samples.parquet (one row per sample), OUTDIR/summary.json, OUTDIR/table.{csv,md,html}, and
prints the Markdown table. Defaults are the paper's protocol (k=16, T=0.6, top-p 0.95, 32,768 new tokens, no
system prompt, the \\boxed{} instruction).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from r1.benchmarks import (
    ANSWER_FORMATS,
    DEFAULT_BENCHMARKS,
    BenchmarkError,
    load_benchmark,
    resolve_benchmark,
)
from r1.eval.runner import THINK_PREFILL, EvalProtocol
from r1.grading.normalize import MODES
from r1.prompts import MATH_INSTRUCTION, PROMPT_STYLES

PAPER = EvalProtocol()  # the paper's protocol: the defaults


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1 eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, help="HF checkpoint directory (model + tokenizer)")
    p.add_argument(
        "--model-name",
        default=None,
        help="name in the results (default: the directory's name; its parent's if it is 'model')",
    )
    p.add_argument(
        "--benchmark", required=True, help=f"one of {', '.join(DEFAULT_BENCHMARKS)} or a .jsonl/.parquet file"
    )
    p.add_argument("--benchmark-name", default=None, help="name in the results (default: derived)")
    p.add_argument("--problem-field", default=None)
    p.add_argument("--answer-field", default=None)
    p.add_argument("--answer-format", default=None, choices=ANSWER_FORMATS)
    p.add_argument("--id-field", default=None)
    p.add_argument("--limit", type=int, default=None, help="first N problems only")
    p.add_argument("--k", type=int, default=PAPER.k, help="samples per problem (paper: 16 MATH-500, 64 AIME)")
    p.add_argument(
        "--pass-k",
        type=int,
        action="append",
        default=None,
        help="also report pass@K (repeatable; pass@1 always)",
    )
    p.add_argument("--temperature", type=float, default=PAPER.temperature)
    p.add_argument("--top-p", type=float, default=PAPER.top_p)
    p.add_argument("--max-new-tokens", type=int, default=PAPER.max_new_tokens)
    p.add_argument("--prompt-style", default=PAPER.prompt_style, choices=PROMPT_STYLES)
    p.add_argument("--no-instruction", action="store_true", help="omit the \\boxed{} instruction")
    p.add_argument(
        "--prefill-think", action="store_true", help='force the response to start with "<think>\\n"'
    )
    p.add_argument("--grader-mode", default=PAPER.grader_mode, choices=MODES)
    p.add_argument(
        "--grader-timeout",
        type=float,
        default=PAPER.grader_timeout_s,
        help="seconds per sample (hard timeout)",
    )
    p.add_argument("--backend", default="transformers", choices=("transformers", "vllm"))
    p.add_argument("--batch-size", type=int, default=None, help="transformers backend batch size")
    p.add_argument("--dtype", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paper-model", default=None, help="paper row to show beside ours (default: by name)")
    p.add_argument("--out", required=True, help="output directory")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from r1.atomic import write_json, write_parquet
    from r1.eval.runner import evaluate
    from r1.eval.table import build_table, to_markdown, write_table

    try:
        spec = resolve_benchmark(
            args.benchmark,
            problem_field=args.problem_field,
            answer_field=args.answer_field,
            answer_format=args.answer_format,
            id_field=args.id_field,
            limit=args.limit,
            name=args.benchmark_name,
        )
        bench = load_benchmark(spec)
    except (BenchmarkError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        protocol = EvalProtocol(
            k=args.k,
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            prompt_style=args.prompt_style,
            instruction=None if args.no_instruction else MATH_INSTRUCTION,
            prefill=THINK_PREFILL if args.prefill_think else "",
            seed=args.seed,
            pass_ks=tuple(args.pass_k or (1,)),
            grader_mode=args.grader_mode,
            grader_timeout_s=args.grader_timeout,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not Path(args.model).is_dir():
        print(f"error: --model {args.model!r} is not a directory", file=sys.stderr)
        return 2
    options = {"backend": args.backend}
    for key in ("batch_size", "dtype", "device"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    model_path = Path(args.model).resolve()
    # results/<stage>/model -> "<stage>"
    model_name = args.model_name or (
        model_path.parent.name if model_path.name == "model" else model_path.name
    )
    samples, summary = evaluate(
        args.model,
        bench,
        protocol,
        model_name=model_name,
        benchmark_name=spec.name,
        generator_options=options,
    )
    summary["benchmark_spec"] = spec.to_dict()
    if args.paper_model:
        summary["paper_model"] = args.paper_model
    out = Path(args.out)
    write_parquet(out / "samples.parquet", samples)
    write_json(out / "summary.json", summary)
    table = build_table([summary])
    write_table(table, out / "table.csv", out / "table.md", out / "table.html")
    print(to_markdown(table), end="")
    return 0
