"""`python -m r1 run-code IN.jsonl OUT.jsonl`: run model-written Python against unit tests in the sandbox.

Each input line is a JSON object with the program in `completion` (the last ```python block of the answer
is run; text after `</think>` only) or in `code` (run as is), and the tests in `tests` (a list of Python
statements, e.g. "assert f(1) == 2", run one by one in the program's globals). Output lines are the input
rows plus `passed` (every test passed), `n_passed`, `n_tests`, `status` (ok | failed | timeout | error |
killed), `reason` and `seconds`. A JSON summary goes to stderr; the output is written atomically.

`python -m r1 run-code --check` prints what this machine isolates (namespaces, filesystem, network).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from r1.atomic import joined_errors, json_objects
from r1.sandbox.client import Job, Limits, Sandbox, SandboxUnavailable
from r1.sandbox.extract import extract_code


def read_jobs(path: str) -> tuple[list[dict], list[Job | None]]:
    """Rows and their jobs (None where the completion holds no code block). Raises ValueError naming the
    file, line and field of every bad row (up to ten)."""
    rows, jobs, errors = [], [], []
    for where, row in json_objects(path, errors):
        field = next((k for k in ("code", "completion") if k in row), None)
        if field is None or not isinstance(row[field], str):
            errors.append(f"{where}: field 'completion' (or 'code') must be a string")
            continue
        tests = row.get("tests")
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            errors.append(f"{where}: field 'tests' must be a list of strings (Python statements)")
            continue
        program = row[field] if field == "code" else extract_code(row[field])
        rows.append(row)
        jobs.append(None if program is None else Job(program, tests))
    if errors:
        raise ValueError(joined_errors(errors))
    return rows, jobs


def build_parser() -> argparse.ArgumentParser:
    d = Limits()
    ap = argparse.ArgumentParser(
        prog="python -m r1 run-code",
        description=__doc__.split("\n\n")[0],
        epilog="Limits apply per program.",
    )
    ap.add_argument("input", nargs="?", help="input JSONL")
    ap.add_argument("output", nargs="?", help="output JSONL")
    ap.add_argument("--check", action="store_true", help="print what this machine isolates, and exit")
    ap.add_argument("--workers", type=int, default=None, help="programs at a time (default: CPUs)")
    ap.add_argument("--wall-time", type=float, default=d.wall_time_s, help="seconds (default %(default)s)")
    ap.add_argument("--cpu-time", type=float, default=d.cpu_time_s, help="seconds (default %(default)s)")
    ap.add_argument("--test-timeout", type=float, default=d.test_timeout_s, help="seconds per test, 0 = off")
    ap.add_argument("--memory-mb", type=int, default=d.memory_mb, help="address space per process")
    ap.add_argument("--max-processes", type=int, default=d.max_processes)
    ap.add_argument("--max-output-bytes", type=int, default=d.max_output_bytes)
    ap.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="run even where namespaces are unavailable (rlimits only: network NOT blocked)",
    )
    ap.add_argument("--keep-output", action="store_true", help="also write each program's stdout/stderr")
    return ap


def main(argv: list[str]) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        limits = Limits(
            wall_time_s=args.wall_time,
            cpu_time_s=args.cpu_time,
            test_timeout_s=args.test_timeout,
            memory_mb=args.memory_mb,
            max_processes=args.max_processes,
            max_output_bytes=args.max_output_bytes,
        )
    except ValueError as e:
        ap.error(str(e))
    if args.check:
        try:
            with Sandbox(limits, workers=1, require_isolation=False) as box:
                print(json.dumps(box.isolation, indent=2))
                return 0 if box.isolation["mode"] != "none" else 1
        except RuntimeError as e:
            print(f"r1 run-code: {e}", file=sys.stderr)
            return 1
    if not args.input or not args.output:
        ap.error("IN.jsonl and OUT.jsonl are required (or --check)")
    try:
        rows, jobs = read_jobs(args.input)
    except OSError as e:
        print(f"r1 run-code: cannot read {args.input}: {e.strerror}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"r1 run-code: bad input:\n{e}", file=sys.stderr)
        return 2

    from r1.atomic import write_jsonl

    t0 = time.monotonic()
    try:
        with Sandbox(limits, workers=args.workers, require_isolation=not args.allow_unisolated) as box:
            runnable = [j for j in jobs if j is not None]
            results = iter(box.run(runnable))
            mode = box.isolation["mode"]
    except SandboxUnavailable as e:
        print(f"r1 run-code: {e} (--allow-unisolated)", file=sys.stderr)
        return 1
    out = []
    for row, job in zip(rows, jobs, strict=True):
        if job is None:
            extra = {"passed": False, "n_passed": 0, "n_tests": len(row["tests"]), "status": "error"}
            extra.update({"reason": "no ```python code block in the completion", "seconds": 0.0})
        else:
            r = next(results)
            extra = {
                k: getattr(r, k) for k in ("passed", "n_passed", "n_tests", "status", "reason", "seconds")
            }
            if args.keep_output:
                extra.update(stdout=r.stdout, stderr=r.stderr)
        out.append({**row, **extra})
    write_jsonl(args.output, out)
    counts = {s: sum(r["status"] == s for r in out) for s in ("ok", "failed", "timeout", "error", "killed")}
    summary = {
        "n": len(out),
        "passed": sum(r["passed"] for r in out),
        "status": counts,
        "seconds": round(time.monotonic() - t0, 2),
        "isolation": mode,
        "output": args.output,
    }
    print(json.dumps(summary), file=sys.stderr)
    return 0
