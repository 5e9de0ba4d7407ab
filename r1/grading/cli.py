"""`python -m r1 grade --mode strict|lenient IN.jsonl OUT.jsonl`: grade model outputs against references.

Each input line is a JSON object with the model output in `completion` (or `prediction`; a string or a
conversational message list) and the reference in `answer`. Output lines are the input rows plus
`extracted`, `correct` (true/false/null: null means the reference is unusable) and `mode` (and
`timed_out`). A one-line JSON summary (n, accuracy over gradable rows, n_unparseable_gold, n_timeouts)
goes to stderr. The output is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys

from r1.atomic import joined_errors, json_objects, write_jsonl
from r1.grading import DEFAULT_CHAIN, DEFAULT_MODE, DEFAULT_TIMEOUT_S, MODES, grade_batch
from r1.grading.extract import EXTRACTORS


class InputError(ValueError):
    pass


def _safe(obj):
    """Replace lone surrogates (invalid UTF-8) so that the row can be written as UTF-8 JSON."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
            return obj
        except UnicodeEncodeError:
            return obj.encode("utf-8", "replace").decode("utf-8")
    if isinstance(obj, list):
        return [_safe(x) for x in obj]
    if isinstance(obj, dict):
        return {_safe(k): _safe(v) for k, v in obj.items()}
    return obj


def _read_rows(path: str) -> tuple[list[dict], list[str], list[str]]:
    rows, completions, golds, errors = [], [], [], []
    for where, row in json_objects(path, errors, encoding_errors="surrogateescape"):
        field = "completion" if "completion" in row else "prediction" if "prediction" in row else None
        if field is None:
            errors.append(f"{where}: missing field 'completion' (or 'prediction') holding the model output")
            continue
        output = row[field]
        if isinstance(output, list) and output and isinstance(output[-1], dict):
            output = output[-1].get("content")
        if not isinstance(output, str):
            errors.append(f"{where}: field '{field}' must be a string, got {type(output).__name__}")
            continue
        if "answer" not in row:
            errors.append(f"{where}: missing field 'answer' holding the reference answer")
            continue
        gold = row["answer"]
        if gold is None:
            gold = ""
        elif isinstance(gold, (int, float)) and not isinstance(gold, bool):
            gold = str(gold)
        elif not isinstance(gold, str):
            errors.append(f"{where}: field 'answer' must be a string or number, got {type(gold).__name__}")
            continue
        rows.append(row)
        completions.append(output)
        golds.append(gold)
    if errors:
        raise InputError(joined_errors(errors))
    return rows, completions, golds


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m r1 grade", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--mode", choices=MODES, default=DEFAULT_MODE, help="equivalence mode (default: %(default)s)"
    )
    ap.add_argument(
        "--chain",
        default=",".join(DEFAULT_CHAIN),
        help="comma-separated extractors, tried in order "
        f"(default: %(default)s; known: {','.join(EXTRACTORS)})",
    )
    ap.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="hard per-item timeout in seconds"
    )
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: usable CPUs)")
    ap.add_argument("input", help="input JSONL")
    ap.add_argument("output", help="output JSONL")
    args = ap.parse_args(argv)
    chain = tuple(c.strip() for c in args.chain.split(",") if c.strip())
    unknown = [c for c in chain if c not in EXTRACTORS]
    if unknown:
        ap.error(f"--chain: unknown extractor(s) {unknown}; known: {list(EXTRACTORS)}")
    try:
        rows, completions, golds = _read_rows(args.input)
    except OSError as e:
        print(f"r1 grade: cannot read {args.input}: {e.strerror}", file=sys.stderr)
        return 2
    except InputError as e:
        print(f"r1 grade: bad input:\n{e}", file=sys.stderr)
        return 2

    results = grade_batch(
        completions, golds, mode=args.mode, chain=chain, timeout_s=args.timeout, workers=args.workers
    )
    out_rows = []
    for row, res in zip(rows, results, strict=True):
        out_rows.append(
            _safe(
                {
                    **row,
                    "extracted": res.extracted,
                    "correct": res.correct,
                    "mode": res.mode,
                    "timed_out": res.timed_out,
                }
            )
        )
    write_jsonl(args.output, out_rows)

    gradable = [r for r in results if r.correct is not None]
    summary = {
        "n": len(results),
        "accuracy": (sum(r.correct is True for r in gradable) / len(gradable)) if gradable else None,
        "n_correct": sum(r.correct is True for r in gradable),
        "n_unparseable_gold": len(results) - len(gradable),
        "n_timeouts": sum(r.timed_out for r in results),
        "mode": args.mode,
        "output": args.output,
    }
    print(json.dumps(summary), file=sys.stderr)
    return 0
