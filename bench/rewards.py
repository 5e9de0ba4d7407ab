"""Benchmark: grading rewards/s with grade_batch (worker pool) vs a single-process math-verify loop.

    .venv/bin/python bench/rewards.py [--n 10000] [--batch 128] [--repeat 1] [--json OUT.json]

Builds N mixed completions (boxed right/wrong answers, equivalent variants, "The answer is", "####",
<answer> tags, free text without a final answer, long chains of thought) for GSM8K references and
MATH-500's where the file is at data/benchmarks/math500/test.jsonl (not shipped: docs/data.md), then times on
the same items:
Every run starts from the same state: a process that parsed one answer of each common shape (the pool's
zygote warm-up) and no benchmark item (in-process runs are forked from such a process; the pool is
restarted before each pool run).
  1. baseline: TRL's accuracy_reward logic (math-verify parse gold, boxed-first parse of the completion,
     verify; SIGALRM timeouts in the main thread) in one process;
  2. our grader in-process (extract_answer + is_equivalent, no timeout) in one process;
  3. grade_batch with 1 worker and with all usable CPUs (the reward path; pool started and warmed first);
  4. the `accuracy` reward called TRL-style in batches of --batch completions.
Reports items/s, the speed-up of grade_batch over the baseline, and per-item latency percentiles
(per-item wall time inside grade_batch, measured by the pool, including IPC).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from r1.benchmarks import MATH500_PATH  # noqa: E402
from r1.grading import extract_answer, grade_batch, is_equivalent, warm_pool  # noqa: E402
from r1.grading.pool import POOL, _warm, default_workers  # noqa: E402
from r1.rewards import build_reward_funcs  # noqa: E402

WORDS = [
    *("we", "first", "compute", "the", "sum", "then", "check", "each"),
    *("term", "carefully", "and", "simplify", "the", "result", "again"),
]


def _references() -> list[str]:
    bench = ROOT / "r1" / "assets" / "benchmarks"
    gsm_rows = (bench / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    gsm = [json.loads(x)["answer"].rsplit("#### ", 1)[1].strip() for x in gsm_rows]
    math_file = ROOT / MATH500_PATH
    if not math_file.exists():
        print(f"{MATH500_PATH} absent: GSM8K references only (docs/data.md says where to get MATH-500)")
        return gsm
    return gsm + [json.loads(x)["answer"] for x in math_file.read_text(encoding="utf-8").splitlines()]


def _variant(gold: str, rng: random.Random) -> str:
    g = gold.replace(",", "")
    if g.lstrip("-").isdigit():
        return rng.choice([f"x = {g}", f"{g}.0", f"{int(g):,}", f"\\text{{{g}}}", f"{g} \\text{{ units}}"])
    return rng.choice([f"\\left({gold}\\right)", gold.replace("\\frac", "\\dfrac"), f" {gold} "])


def _wrong(gold: str, rng: random.Random) -> str:
    g = gold.replace(",", "")
    if g.lstrip("-").isdigit():
        return str(int(g) + rng.choice([-2, -1, 1, 3, 10]))
    return rng.choice(["\\frac{3}{7}", "2\\sqrt{5}", "(1, 3)", "x^2 - 1", "17"])


def build_items(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    refs = _references()
    completions, golds = [], []
    for _ in range(n):
        gold = rng.choice(refs)
        cot = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 300)))
        kind = rng.choices(
            ["right", "wrong", "variant", "answer_is", "gsm8k", "tag", "free"], [30, 20, 15, 10, 8, 7, 10]
        )[0]
        answer = {"right": gold, "wrong": _wrong(gold, rng), "variant": _variant(gold, rng)}.get(kind, gold)
        tail = {
            "answer_is": f"The answer is ${answer}$.",
            "gsm8k": f"#### {answer}",
            "tag": f"<answer>{answer}</answer>",
            "free": "so 13 * 13 = 192 and " + answer.replace("\\", "") + " maybe",
        }.get(kind, f"Therefore the final answer is $\\boxed{{{answer}}}$.")
        completions.append(f"<think>{cot}</think>\n{tail}")
        golds.append(gold)
    return completions, golds


def baseline_math_verify(completions: list[str], golds: list[str]) -> tuple[float, list[float]]:
    """TRL accuracy_reward's per-item logic, single process, main thread (SIGALRM timeouts on)."""
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import LatexExtractionConfig, parse, verify

    cfg = [
        LatexExtractionConfig(
            normalization_config=NormalizationConfig(units=True),
            boxed_match_priority=0,
            try_extract_without_anchor=False,
        )
    ]
    lat = []
    t0 = time.perf_counter()
    for text, gold in zip(completions, golds, strict=True):
        t = time.perf_counter()
        gold_parsed = parse(gold, parsing_timeout=10)
        if gold_parsed:
            pred = parse(text, extraction_config=cfg, extraction_mode="first_match", parsing_timeout=10)
            verify(gold_parsed, pred, timeout_seconds=5)
        lat.append(time.perf_counter() - t)
    return time.perf_counter() - t0, lat


def ours_in_process(completions: list[str], golds: list[str], mode: str) -> tuple[float, list[float]]:
    lat = []
    t0 = time.perf_counter()
    for text, gold in zip(completions, golds, strict=True):
        t = time.perf_counter()
        is_equivalent(extract_answer(text), gold, mode)
        lat.append(time.perf_counter() - t)
    return time.perf_counter() - t0, lat


def fresh_caches(workers: int | None = None) -> None:
    """Empty every answer cache so that no measurement profits from an earlier one on the same items:
    math-verify's and ours in this process, and (when `workers` is given) restart the worker pool."""
    from math_verify.parser import parse_expr_cached, parse_latex_cached

    from r1.grading.equivalence import _mv_parse, prepare_gold

    for cached in (parse_expr_cached, parse_latex_cached, _mv_parse, prepare_gold):
        cached.cache_clear()
    if workers:
        POOL.close()
        warm_pool(workers)


def in_fresh_child(fn, *args):
    """Run fn in a forked copy of this (warm, never-graded) process, so no run inherits another's caches."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        with os.fdopen(write_fd, "wb") as f:
            pickle.dump(fn(*args), f)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        result = pickle.load(f)
    os.waitpid(pid, 0)
    return result


def workers_cpu_s() -> float:
    """CPU seconds used so far by the pool's current worker processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for w in POOL._workers:
        try:
            fields = Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=128, help="completions per reward call (TRL step size)")
    ap.add_argument("--mode", default="lenient", choices=["strict", "lenient"])
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=1, help="run each measurement this often, keep the fastest")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    completions, golds = build_items(args.n)
    workers = default_workers()
    out: dict = {"n": args.n, "workers": workers, "mode": args.mode, "timeout_s": args.timeout}
    out["loadavg_1min_at_start"] = os.getloadavg()[0]

    t = time.perf_counter()
    warm_pool(workers)
    out["pool_start_s"] = round(time.perf_counter() - t, 3)

    _warm()  # the same warm-up (one parse per common answer shape) that each pool worker gets

    def best(key: str, row: dict) -> None:  # keep the fastest of --repeat runs (others share the CPUs)
        if key not in out or row["items_per_s"] > out[key]["items_per_s"]:
            out[key] = row

    for _ in range(args.repeat):
        for key, fn in (
            ("baseline_math_verify_loop", baseline_math_verify),
            ("ours_single_process", ours_in_process),
        ):
            fn_args = (completions, golds) if fn is baseline_math_verify else (completions, golds, args.mode)
            secs, lat = in_fresh_child(fn, *fn_args)
            best(
                key,
                {"items_per_s": args.n / secs, "p50_ms": pct(lat, 0.5) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3},
            )

        for n_workers in sorted({1, workers}):
            fresh_caches(workers)
            cpu0, t = workers_cpu_s(), time.perf_counter()
            results = grade_batch(
                completions, golds, mode=args.mode, timeout_s=args.timeout, workers=n_workers
            )
            secs = time.perf_counter() - t
            cpu = workers_cpu_s() - cpu0
            lat = POOL.last_item_seconds
            row = {
                "items_per_s": args.n / secs,
                "p50_ms": pct(lat, 0.5) * 1e3,
                "p99_ms": pct(lat, 0.99) * 1e3,
                "max_ms": max(lat) * 1e3,
                "worker_cpu_s": cpu,
                "cores_used": cpu / secs,
                "timeouts": sum(r.timed_out for r in results),
                "accuracy": sum(r.correct is True for r in results) / args.n,
            }
            best(f"grade_batch_{n_workers}w", row)

    [accuracy], _ = build_reward_funcs([{"name": "accuracy", "mode": args.mode, "timeout_s": args.timeout}])
    fresh_caches(workers)
    call_lat = []
    t = time.perf_counter()
    for i in range(0, args.n, args.batch):
        tc = time.perf_counter()
        accuracy(completions[i : i + args.batch], answer=golds[i : i + args.batch])
        call_lat.append(time.perf_counter() - tc)
    secs = time.perf_counter() - t
    out[f"accuracy_reward_calls_of_{args.batch}"] = {
        "rewards_per_s": args.n / secs,
        "call_p50_ms": pct(call_lat, 0.5) * 1e3,
        "call_p99_ms": pct(call_lat, 0.99) * 1e3,
    }
    base = out["baseline_math_verify_loop"]["items_per_s"]
    out["speedup_grade_batch_vs_math_verify_loop"] = out[f"grade_batch_{workers}w"]["items_per_s"] / base
    out["speedup_grade_batch_vs_ours_single_process"] = (
        out[f"grade_batch_{workers}w"]["items_per_s"] / out["ours_single_process"]["items_per_s"]
    )

    out["loadavg_1min_at_end"] = os.getloadavg()[0]
    print(
        f"load average (1 min) at start {out['loadavg_1min_at_start']:.2f}, "
        f"at end {out['loadavg_1min_at_end']:.2f}"
    )
    print(
        f"{args.n} mixed completions, mode={args.mode}, {workers} usable CPUs, "
        f"pool start {out['pool_start_s']} s"
    )
    for key, val in out.items():
        if isinstance(val, dict):
            print(
                f"  {key:34s} "
                + "  ".join(f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in val.items())
            )
    print(
        f"  speed-up grade_batch({workers}w) vs math-verify loop: "
        f"{out['speedup_grade_batch_vs_math_verify_loop']:.2f}x"
    )
    print(
        f"  speed-up grade_batch({workers}w) vs our single-process grader: "
        f"{out['speedup_grade_batch_vs_ours_single_process']:.2f}x"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
