"""Prompt data: sources → one schema, validation with quarantine, dedupe, 10-gram decontamination, split."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pandas as pd

from r1.decontam import PAPER_NGRAM
from r1.progress import progress

log = logging.getLogger(__name__)

COLUMNS = ["id", "source", "problem", "answer", "domain", "difficulty", "language"]
QUARANTINE_COLUMNS = ["source", "row", "field", "reason", "raw"]


def stable_int(*parts) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:4], "big")


def _read_table(path: str) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data source file not found: {path}")
    if p.suffix == ".parquet":
        return pd.read_parquet(p).to_dict("records")
    if p.suffix in (".jsonl", ".json"):
        from r1.atomic import read_jsonl

        return read_jsonl(p)
    raise ValueError(f"{path}: unsupported source file type {p.suffix!r} (use .jsonl or .parquet)")


def gsm8k_final_answer(text: str) -> str:
    """The final answer of a GSM8K solution: the text after the last '#### ', thousands commas removed."""
    if "####" not in text:
        return ""
    return text.rsplit("####", 1)[1].strip().replace(",", "")


def load_source(spec: dict, seed: int) -> tuple[list[dict], list[dict]]:
    """Read one configured source into raw rows (problem, answer, optional reasoning) and quarantined rows."""
    name = spec["name"]
    rows: list[dict] = []
    if spec["kind"] == "procedural":
        rows = procedural_rows(
            spec.get("generator", "arithmetic"),
            spec.get("size", 100),
            seed + stable_int(name) % 100_000,
            **spec.get("options", {}),
        )
    elif spec["kind"] == "reasoning_gym":
        import reasoning_gym

        ds = reasoning_gym.create_dataset(
            spec["generator"],
            size=spec.get("size", 100),
            seed=seed + stable_int(name) % 100_000,
            **spec.get("options", {}),
        )
        for i in progress(range(len(ds)), desc=f"data {name}", unit="row"):
            item = ds[i]
            meta = item.get("metadata", {}) or {}
            rows.append(
                {
                    "row": i,
                    "problem": item.get("question"),
                    "answer": item.get("answer"),
                    "reasoning": meta.get("answer_cot"),
                    "difficulty": str(meta.get("difficulty", "")),
                }
            )
    elif spec["kind"] == "file":
        pf, af = spec["problem_field"], spec["answer_field"]
        for i, raw in enumerate(_read_table(spec["path"])):
            answer = raw.get(af)
            if spec.get("answer_format") == "gsm8k" and isinstance(answer, str):
                answer = gsm8k_final_answer(answer)
            rows.append(
                {
                    "row": i,
                    "problem": raw.get(pf),
                    "answer": answer,
                    "reasoning": raw.get("reasoning"),
                    "difficulty": str(raw.get("difficulty", "") or ""),
                    "_raw": raw,
                    "_id": raw.get(spec["id_field"]) if spec.get("id_field") else None,
                }
            )
    else:
        raise ValueError(f"data source {name!r}: unknown kind {spec['kind']!r}")

    good, bad = [], []
    where = spec.get("path", f"reasoning_gym:{spec.get('generator')}")
    for r in rows:
        problem, answer = r["problem"], r["answer"]
        reason = field = None
        if not isinstance(problem, str) or not problem.strip():
            field, reason = spec.get("problem_field", "question"), "missing or empty problem"
        elif answer is None or (isinstance(answer, float) and pd.isna(answer)) or not str(answer).strip():
            field, reason = spec.get("answer_field", "answer"), "missing or empty answer"
        if reason:
            bad.append(
                {
                    "source": name,
                    "row": r["row"],
                    "field": field,
                    "reason": f"{where}: row {r['row']}: {reason}",
                    "raw": repr(r.get("_raw", {k: r[k] for k in ("problem", "answer")}))[:2000],
                }
            )
            continue
        good.append(
            {
                "id": f"{name}:{r['_id'] if r.get('_id') is not None else r['row']}",
                "source": name,
                "problem": problem.strip(),
                "answer": str(answer).strip(),
                "reasoning": r.get("reasoning"),
                "domain": spec.get("domain", "math"),
                "difficulty": r.get("difficulty", ""),
                "language": spec.get("language", "en"),
            }
        )
    return good, bad


def procedural_rows(
    generator: str,
    size: int,
    seed: int,
    min_terms: int = 2,
    max_terms: int = 3,
    max_value: int = 99,
    min_value: int = 1,
    ops: str = "+-",
) -> list[dict]:
    """r1's own seeded arithmetic problems with an exact answer and a step-by-step reasoning trace.

    Terms are drawn from [min_value, max_value], operators from `ops` (any of "+-*"); the answer follows the
    usual precedence (multiplication first), and the trace evaluates it step by step in that order.
    """
    import random

    if generator != "arithmetic":
        raise ValueError(f"procedural generator {generator!r} is unknown; expected 'arithmetic'")
    if not ops or set(ops) - set("+-*"):
        raise ValueError(f"procedural arithmetic: ops must be a non-empty subset of '+-*', got {ops!r}")
    rng = random.Random(seed)
    rows = []
    for i in range(size):
        terms = [rng.randint(min_value, max_value) for _ in range(rng.randint(min_terms, max_terms))]
        opl = [rng.choice(ops) for _ in terms[1:]]
        expr = " ".join([str(terms[0])] + [f"{o} {t}" for o, t in zip(opl, terms[1:], strict=True)])
        steps = []
        # products first, then sums/differences left to right
        vals, pend = [terms[0]], []
        for o, t in zip(opl, terms[1:], strict=True):
            if o == "*":
                steps.append(f"{vals[-1]} * {t} = {vals[-1] * t}.")
                vals[-1] *= t
            else:
                pend.append(o)
                vals.append(t)
        total = vals[0]
        for o, t in zip(pend, vals[1:], strict=True):
            new = total + t if o == "+" else total - t
            steps.append(f"{total} {o} {t} = {new}.")
            total = new
        reasoning = " ".join(steps) + f" So the result is {total}."
        rows.append(
            {
                "row": i,
                "problem": f"What is {expr}?",
                "answer": str(total),
                "reasoning": reasoning,
                "difficulty": str(len(terms)),
            }
        )
    return rows


def benchmark_index(benchmark_specs: list[dict], ngram: int):
    """An n-gram index over every benchmark's full problem set (questions, plus solutions where the spec names
    a
    `solution_field`, as the paper filters both), not only the `limit` rows we evaluate on."""
    from r1.benchmarks import BenchmarkSpec, load_benchmark, read_rows
    from r1.decontam import build_ngram_index

    eval_items = {}
    for b in benchmark_specs:
        spec = {k: v for k, v in b.items() if k != "solution_field"}
        bdf = load_benchmark(BenchmarkSpec(**{**spec, "limit": None}))
        solutions = [""] * len(bdf)
        if b.get("solution_field"):
            solutions = [str(r.get(b["solution_field"]) or "") for r in read_rows(b["path"])][: len(bdf)]
        for rid, problem, solution in zip(bdf["id"], bdf["problem"], solutions, strict=True):
            eval_items[f"{b['name']}:{rid}"] = f"{problem}\n{solution}" if solution else problem
    return build_ngram_index(eval_items, n=ngram)


def decontaminate_rows(df: pd.DataFrame, text_column: str, decontam: dict):
    """(kept, contaminated): rows whose `text_column` overlaps an eval benchmark (word n-grams) are reported
    in `contaminated` (with the benchmark item and whether they were dropped) and, with `drop`, dropped.
    `drop: false` means what it means for the prompt data (build_dataset): checked and reported, but kept."""
    from r1.decontam import find_contamination

    if df.empty:
        return df, df.assign(benchmark_id=[], dropped=[])
    n, drop = decontam["ngram"], decontam["drop"]
    index = benchmark_index(decontam["benchmarks"], n)
    matches = [
        find_contamination(t, index, n=n)
        for t in progress(df[text_column], desc=f"decontaminate {text_column}", total=len(df), unit="row")
    ]
    hit = pd.Series([m is not None for m in matches], index=df.index)
    if hit.any():
        log.warning(
            "decontamination: %s %d/%d rows of %s overlapping eval benchmarks",
            "dropped" if drop else "kept (drop: false)",
            int(hit.sum()),
            len(df),
            text_column,
        )
    contaminated = df[hit].assign(benchmark_id=[m for m in matches if m is not None], dropped=drop)
    return (df[~hit] if drop else df).reset_index(drop=True), contaminated


def normalized_problem(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()


def build_dataset(
    sources: list[dict],
    benchmark_specs: list[dict],
    seed: int,
    eval_fraction: float,
    ngram: int = PAPER_NGRAM,
    drop_contaminated: bool = True,
):
    """Return (train, eval, quarantine, contamination, stats) DataFrames/dict for the configured sources."""
    from r1.decontam import find_contamination

    index = benchmark_index(benchmark_specs, ngram)

    kept, quarantine, contamination, stats = [], [], [], {}
    seen: set[str] = set()
    for spec in sources:
        good, bad = load_source(spec, seed)
        quarantine.extend(bad)
        st = {"rows_in": len(good) + len(bad), "quarantined": len(bad), "duplicates": 0, "contaminated": 0}
        for row in good:
            key = normalized_problem(row["problem"])
            if key in seen:
                st["duplicates"] += 1
                continue
            seen.add(key)
            match = find_contamination(row["problem"], index, n=ngram)
            if match is not None:
                st["contaminated"] += 1
                contamination.append(
                    {
                        "id": row["id"],
                        "source": row["source"],
                        "benchmark_id": match,
                        "problem": row["problem"],
                        "dropped": drop_contaminated,
                    }
                )
                if drop_contaminated:
                    continue
            kept.append(row)
        st["kept"] = (
            st["rows_in"]
            - st["quarantined"]
            - st["duplicates"]
            - (st["contaminated"] if drop_contaminated else 0)
        )
        stats[spec["name"]] = st
        log.info("source %s: %s", spec["name"], st)
        if bad:
            log.warning(
                "source %s: %d invalid rows quarantined (first: %s)", spec["name"], len(bad), bad[0]["reason"]
            )

    df = pd.DataFrame(kept, columns=COLUMNS + ["reasoning"])
    is_eval = df["id"].map(lambda i: (stable_int(seed, "split", i) % 10_000) / 10_000 < eval_fraction)
    train, evals = df[~is_eval].reset_index(drop=True), df[is_eval].reset_index(drop=True)
    for name in stats:
        stats[name]["train"] = int((train["source"] == name).sum())
        stats[name]["eval"] = int((evals["source"] == name).sum())
    log.info(
        "dataset: %d train, %d eval, %d quarantined, %d contaminated",
        len(train),
        len(evals),
        len(quarantine),
        len(contamination),
    )
    return (
        train,
        evals,
        pd.DataFrame(quarantine, columns=QUARANTINE_COLUMNS),
        pd.DataFrame(contamination, columns=["id", "source", "benchmark_id", "problem", "dropped"]),
        stats,
    )
