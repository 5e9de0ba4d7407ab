"""Sandboxed code execution vs a plain `subprocess.run` loop, on MBPP reference solutions (side by side).

    python bench/run_code.py                 # 1,000 programs (MBPP's 974 reference solutions, then repeats)
    python bench/run_code.py --n 200 --workers 1 2

Both variants run the same program (test_setup_code + reference solution + the three asserts) and must agree
on which programs pass. The baseline is what a pipeline without a sandbox would do: one fresh interpreter per
program (`python -c`), no isolation, a timeout. The sandbox forks each program from a warm server and adds
namespaces, a minimal read-only root and rlimits (r1/sandbox/server.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from r1.sandbox import Job, Limits, Sandbox  # noqa: E402

MBPP = REPO / "r1/assets/benchmarks/mbpp/mbpp.jsonl"


def mbpp_jobs(n: int) -> list[Job]:
    rows = [json.loads(x) for x in MBPP.read_text().splitlines() if x.strip()]
    jobs = []
    while len(jobs) < n:
        for r in rows[: n - len(jobs)]:
            setup = r.get("test_setup_code") or ""
            jobs.append(Job(program=f"{setup}\n{r['code']}\n", tests=list(r["test_list"])))
    return jobs


def plain_loop(jobs: list[Job], timeout: float) -> tuple[list[bool], list[float]]:
    passed, lat = [], []
    for j in jobs:
        t = time.perf_counter()
        try:
            p = subprocess.run(
                [sys.executable, "-c", j.program + "\n" + "\n".join(j.tests) + "\n"],
                capture_output=True,
                timeout=timeout,
            )
            passed.append(p.returncode == 0)
        except subprocess.TimeoutExpired:
            passed.append(False)
        lat.append(time.perf_counter() - t)
    return passed, lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()
    jobs = mbpp_jobs(args.n)
    rows = {}

    t0 = time.perf_counter()
    base_pass, base_lat = plain_loop(jobs, args.timeout)
    base_s = time.perf_counter() - t0
    rows["subprocess.run loop (no isolation)"] = (base_s, base_lat, sum(base_pass), None)

    limits = Limits(wall_time_s=args.timeout, cpu_time_s=args.timeout)
    isolation = None
    for w in args.workers:
        with Sandbox(limits, workers=w) as box:
            isolation = box.isolation["mode"]
            t0 = time.perf_counter()
            results = box.run(jobs)
            took = time.perf_counter() - t0
        agree = sum(r.passed == b for r, b in zip(results, base_pass, strict=True))
        rows[f"r1 sandbox, {w} worker(s)"] = (
            took,
            [r.seconds for r in results],
            sum(r.passed for r in results),
            agree,
        )

    print(f"{len(jobs)} MBPP reference programs; sandbox isolation: {isolation}\n")
    print("| variant | wall s | programs/s | p50 ms | p99 ms | passed | agrees with baseline | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    out = {}
    for name, (s, lat, npass, agree) in rows.items():
        rate = len(jobs) / s
        p50, p99 = 1000 * statistics.median(lat), 1000 * pct(lat, 0.99)
        agrees = "" if agree is None else agree
        print(
            f"| {name} | {s:.1f} | {rate:.1f} | {p50:.1f} | {p99:.1f} | {npass} | {agrees} "
            f"| {base_s / s:.2f}x |"
        )
        out[name] = {"seconds": s, "per_s": rate, "passed": npass, "agrees": agree}
    if args.json:
        Path(args.json).write_text(
            json.dumps({"n": len(jobs), "isolation": isolation, "rows": out}, indent=2)
        )


if __name__ == "__main__":
    main()
