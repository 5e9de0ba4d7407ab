"""Prompt data: sources → one schema, validation with quarantine, dedupe, decontamination, split.

Source kinds: `procedural` (r1's seeded arithmetic), `reasoning_gym` (a generator), `file` (jsonl, json array
or parquet: GSM8K train ships in r1/assets/data; MATH and AIME are referenced by path, see docs/data.md) and
`hf` (`datasets.load_dataset` with a pinned revision, or a local dataset directory). File and hf sources name
their fields: problem, answer (`answer_format: gsm8k` takes the text after "####"), optional id, difficulty
(MATH's `level`) and solution (a human-written solution, rewritten into `<think>` reasoning for cold-start
seeds by `r1.sft_data.solution_to_reasoning`).

Decontamination (r1/decontam.py) runs against each benchmark's full question and solution sets; a
reasoning-gym generator templated from a benchmark's test items (`TEMPLATED_FROM`) is dropped as a whole
when that benchmark is configured: renamed and renumbered templates escape n-gram filters.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pandas as pd

from r1.decontam import DEFAULT_MIN_OVERLAP, PAPER_NGRAM
from r1.progress import progress

log = logging.getLogger(__name__)

COLUMNS = ["id", "source", "problem", "answer", "domain", "difficulty", "language"]
QUARANTINE_COLUMNS = ["source", "row", "field", "reason", "raw"]


def stable_int(*parts) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:4], "big")


# reasoning-gym generators built from a benchmark's test items: every row is contaminated by template.
# gsm_symbolic is GSM-Symbolic (Mirzadeh et al. 2024): templates written from GSM8K test questions; a 10-gram
# filter catches ~60% of its rows, the rest are the same questions with new names and numbers.
TEMPLATED_FROM = {"gsm_symbolic": "gsm8k"}
GENERATED_ROWS = 100  # rows a procedural / reasoning_gym source generates when its `size` is unset


def _read_table(path: str) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data source file not found: {path}")
    if p.suffix == ".parquet":
        return pd.read_parquet(p).to_dict("records")
    if p.suffix == ".json" and p.read_text(encoding="utf-8")[:1].strip() == "[":  # a JSON array (AIME)
        import json

        rows = json.loads(p.read_text(encoding="utf-8"))
        if not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: expected a JSON array of objects")
        return rows
    if p.suffix in (".jsonl", ".json"):
        from r1.atomic import read_jsonl

        return read_jsonl(p)
    raise ValueError(f"{path}: unsupported source file type {p.suffix!r} (use .jsonl, .json or .parquet)")


def _read_hf(spec: dict) -> list[dict]:
    """Rows of a `kind: hf` source: `datasets.load_dataset(dataset, config, split=split, revision=revision)`.
    A local dataset directory works offline (its revision is recorded, not checked)."""
    import datasets

    try:
        ds = datasets.load_dataset(
            spec["dataset"], spec.get("config"), split=spec["split"], revision=spec["revision"]
        )
    except Exception as err:  # noqa: BLE001 - datasets raises many kinds; name the source
        raise ValueError(
            f"data source {spec['name']!r}: cannot load hf dataset {spec['dataset']!r} "
            f"(config {spec.get('config')!r}, split {spec['split']!r}, revision {spec['revision']!r}): {err}"
        ) from err
    return [dict(r) for r in ds]


def gsm8k_final_answer(text: str) -> str:
    """The final answer of a GSM8K solution: the text after the last '#### ', thousands commas removed."""
    if "####" not in text:
        return ""
    return text.rsplit("####", 1)[1].strip().replace(",", "")


def _table_rows(spec: dict, records: list[dict]) -> list[dict]:
    """File / hf records -> raw rows (problem, answer, reasoning, difficulty) by the spec's field names."""
    from r1.sft_data import solution_to_reasoning

    pf, af = spec["problem_field"], spec["answer_field"]
    sf, df, idf = spec.get("solution_field"), spec.get("difficulty_field"), spec.get("id_field")
    rows = []
    for i, raw in enumerate(records):
        answer = raw.get(af)
        if spec.get("answer_format") == "gsm8k" and isinstance(answer, str):
            answer = gsm8k_final_answer(answer)
        solution = raw.get(sf) if sf else raw.get("reasoning")
        rows.append(
            {
                "row": i,
                "problem": raw.get(pf),
                "answer": answer,
                "reasoning": solution_to_reasoning(solution, spec.get("answer_format"))
                if sf and isinstance(solution, str)
                else solution,
                "difficulty": str(raw.get(df, "") if df else raw.get("difficulty", "") or ""),
                "_raw": raw,
                "_id": raw.get(idf) if idf else None,
            }
        )
    return rows


def _subsample(rows: list[dict], size: int | None, seed: int) -> list[dict]:
    """`size` rows of a file/hf source, a seeded sample in file order (all rows when size is unset)."""
    if not size or size >= len(rows):
        return rows
    import random

    keep = set(random.Random(seed).sample(range(len(rows)), size))
    return [r for r in rows if r["row"] in keep]


def load_source(spec: dict, seed: int) -> tuple[list[dict], list[dict]]:
    """Read one configured source into raw rows (problem, answer, optional reasoning) and quarantined rows."""
    name = spec["name"]
    rows: list[dict] = []
    source_seed = seed + stable_int(name) % 100_000
    if spec["kind"] == "procedural":
        rows = procedural_rows(
            spec.get("generator", "arithmetic"),
            spec.get("size") or GENERATED_ROWS,
            source_seed,
            **spec.get("options", {}),
        )
    elif spec["kind"] == "reasoning_gym":
        import reasoning_gym

        ds = reasoning_gym.create_dataset(
            spec["generator"],
            size=spec.get("size") or GENERATED_ROWS,
            seed=source_seed,
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
        rows = _subsample(_table_rows(spec, _read_table(spec["path"])), spec.get("size"), source_seed)
    elif spec["kind"] == "hf":
        rows = _subsample(_table_rows(spec, _read_hf(spec)), spec.get("size"), source_seed)
    else:
        raise ValueError(f"data source {name!r}: unknown kind {spec['kind']!r}")

    good, bad = [], []
    where = {
        "file": spec.get("path"),
        "hf": f"hf:{spec.get('dataset')}@{spec.get('revision')}",
    }.get(spec["kind"], f"{spec['kind']}:{spec.get('generator')}")
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
                "difficulty": r.get("difficulty", "") or spec.get("difficulty", ""),
                "language": spec.get("language", "en"),
            }
        )
    return good, bad


def templated_from(spec: dict, benchmark_names: list[str]) -> str | None:
    """The configured benchmark a templated generator was written from (its rows are all contaminated)."""
    origin = TEMPLATED_FROM.get(spec.get("generator", "")) if spec["kind"] == "reasoning_gym" else None
    return origin if origin in benchmark_names else None


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


def benchmark_items(benchmark_specs: list[dict]) -> dict[str, str]:
    """Every benchmark's full problem set as eval items, not only the `limit` rows we evaluate on: each
    question as `<benchmark>:<id>` and, where the spec names a `solution_field` (the paper filters both),
    its solution as `<benchmark>:<id>:solution` (a separate item, so that overlap fractions are per text)."""
    from r1.benchmarks import BenchmarkSpec, load_benchmark, read_rows

    items = {}
    for b in benchmark_specs:
        bdf = load_benchmark(BenchmarkSpec.from_config(b, limit=None))
        solutions = [""] * len(bdf)
        if b.get("solution_field"):
            solutions = [str(r.get(b["solution_field"]) or "") for r in read_rows(b["path"])][: len(bdf)]
        for rid, problem, solution in zip(bdf["id"], bdf["problem"], solutions, strict=True):
            items[f"{b['name']}:{rid}"] = problem
            if solution:
                items[f"{b['name']}:{rid}:solution"] = solution
    return items


def benchmark_index(benchmark_specs: list[dict], ngram: int):
    from r1.decontam import build_ngram_index

    return build_ngram_index(benchmark_items(benchmark_specs), n=ngram)


def decontaminate_rows(df: pd.DataFrame, text_columns: str | list[str], decontam: dict):
    """(kept, contaminated): rows whose text columns overlap an eval benchmark (r1/decontam.py: word n-grams,
    `min_overlap`) are reported in `contaminated` (with the benchmark item and whether they were dropped)
    and, with `drop`, dropped. `drop: false` means what it means for the prompt data (build_dataset):
    checked and reported, but kept."""
    from r1.decontam import find_contamination

    columns = [text_columns] if isinstance(text_columns, str) else list(text_columns)
    if df.empty:
        return df, df.assign(benchmark_id=[], dropped=[])
    n, drop = decontam["ngram"], decontam["drop"]
    index = benchmark_index(decontam["benchmarks"], n)
    min_overlap = decontam["min_overlap"]
    rows = progress(df.iterrows(), desc=f"decontaminate {'+'.join(columns)}", total=len(df), unit="row")
    matches = [
        next((m for c in columns if (m := find_contamination(row[c], index, min_overlap=min_overlap))), None)
        for _, row in rows
    ]
    hit = pd.Series([m is not None for m in matches], index=df.index)
    if hit.any():
        log.warning(
            "decontamination: %s %d/%d rows of %s overlapping eval benchmarks",
            "dropped" if drop else "kept (drop: false)",
            int(hit.sum()),
            len(df),
            columns,
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
    min_overlap: float = DEFAULT_MIN_OVERLAP,
):
    """Return (train, eval, quarantine, contamination, stats) DataFrames/dict for the configured sources."""
    from r1.decontam import contamination_score

    index = benchmark_index(benchmark_specs, ngram)
    benchmark_names = [b["name"] for b in benchmark_specs]

    kept, quarantine, contamination, stats = [], [], [], {}
    seen: set[str] = set()
    for spec in sources:
        good, bad = load_source(spec, seed)
        quarantine.extend(bad)
        template = templated_from(spec, benchmark_names)
        st = {"rows_in": len(good) + len(bad), "quarantined": len(bad), "duplicates": 0, "contaminated": 0}
        for row in good:
            key = normalized_problem(row["problem"])
            if key in seen:
                st["duplicates"] += 1
                continue
            seen.add(key)
            scored = contamination_score(row["problem"], index)
            if template or (scored is not None and scored[1] >= min_overlap):
                st["contaminated"] += 1
                contamination.append(
                    {
                        "id": row["id"],
                        "source": row["source"],
                        "benchmark_id": f"{template} (template)" if template else scored[0],
                        "overlap": 1.0 if template else scored[1],
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
        if template:
            log.warning(
                "source %s: generator %s is templated from %s test items: every row is contaminated",
                spec["name"],
                spec["generator"],
                template,
            )
        if bad:
            log.warning(
                "source %s: %d invalid rows quarantined (first: %s)", spec["name"], len(bad), bad[0]["reason"]
            )

    df = pd.DataFrame(kept, columns=COLUMNS + ["reasoning"])
    is_eval = (
        df["id"].map(lambda i: (stable_int(seed, "split", i) % 10_000) / 10_000 < eval_fraction).astype(bool)
    )
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
        pd.DataFrame(
            contamination, columns=["id", "source", "benchmark_id", "overlap", "problem", "dropped"]
        ),
        stats,
    )


SOURCE_TABLE_COLUMNS = [
    "source",
    "use",
    "rows read",
    "quarantined (invalid)",
    "duplicates",
    "decontaminated",
    "unreadable",
    "kept",
    "train",
    "eval",
]


def source_table(data_stats: dict, cold_start_stats: dict | None = None) -> pd.DataFrame:
    """Row counts per data source: RL prompt sources (results/data/stats.json) and cold-start seed sources
    (results/cold_start/stats.json), one row each. Shown by `python -m r1 audit` and the report's data
    table."""
    rows = []
    for name, st in data_stats.get("sources", {}).items():
        rows.append(
            {
                "source": name,
                "use": "RL prompts",
                "rows read": st.get("rows_in"),
                "quarantined (invalid)": st.get("quarantined"),
                "duplicates": st.get("duplicates"),
                "decontaminated": st.get("contaminated"),
                "kept": st.get("kept"),
                "train": st.get("train"),
                "eval": st.get("eval"),
            }
        )
    for name, st in (cold_start_stats or {}).get("seed_sources", {}).items():
        rows.append(
            {
                "source": name,
                "use": "cold-start seeds",
                "rows read": st.get("rows"),
                "quarantined (invalid)": st.get("quarantined"),
                "decontaminated": st.get("decontaminated"),
                "unreadable": st.get("unreadable"),
                "kept": st.get("kept"),
            }
        )
    df = pd.DataFrame(rows, columns=SOURCE_TABLE_COLUMNS)
    counts = SOURCE_TABLE_COLUMNS[2:]
    df[counts] = df[counts].astype("Int64")
    return df
