"""Non-math data: code tasks, multiple-choice questions, harmful / safe prompts and open-ended prompts.

One loader per file format, each returning a frame of one of four shapes (`kind`):

- code      id, problem, tests (list of Python statements), prefix (code run before the model's), entry_point
- choice    id, problem (question with lettered options), answer (the letter), n_choices, subject
- prompts   id, prompt                              (refusal / over-refusal evals, judged evals, SFT prompts)

Every frame also has `text`: what decontamination compares, i.e. the task as written in the file, without r1's
instructions (boilerplate shared by every rendered prompt would make every item overlap every other). For
code it is the task's description only: with the reference solutions, 10-grams of loop and sort idioms matched
27% of MBPP's train tasks to MBPP test or HumanEval, and with the tests, lists like [1, 2, ..., 10] matched
MATH-500 problems.

Formats (the files in r1/assets/ carry SOURCE notes):

| format        | file                             | kind    | splits                                        |
|---------------|----------------------------------|---------|-----------------------------------------------|
| mbpp          | MBPP mbpp.jsonl                  | code    | test 11-510, train 601-974, valid. 511-600    |
| humaneval     | HumanEval.jsonl(.gz)             | code    | -                                             |
| mmlu          | MMLU as jsonl/csv/parquet        | choice  | - (answer: index 0-3 or letter)               |
| hh_rlhf       | hh-rlhf transcripts (.jsonl.gz)  | prompts | eval / train halves of the first turns        |
| advbench      | AdvBench harmful_behaviors.csv   | prompts | -                                             |
| xstest        | XSTest xstest_prompts.csv        | prompts | safe (default) / unsafe (never trained)       |
| mt_bench      | MT-Bench question.jsonl (turn 1) | prompts | -                                             |
| self_instruct | Self-Instruct seed_tasks.jsonl   | prompts | -                                             |

A missing or malformed field raises ValueError naming the file, the 1-based row and the field.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pandas as pd

FORMATS = {
    "mbpp": "code",
    "humaneval": "code",
    "mmlu": "choice",
    "hh_rlhf": "prompts",
    "advbench": "prompts",
    "xstest": "prompts",
    "mt_bench": "prompts",
    "self_instruct": "prompts",
}
CODE_INSTRUCTION = "Write your solution in Python, in one ```python code block."
CHOICE_INSTRUCTION = "Please reason step by step, and put the letter of your final answer within \\boxed{}."
LETTERS = "ABCDEFGHIJ"
CODE_COLUMNS = ["id", "problem", "tests", "prefix", "entry_point", "text"]
CHOICE_COLUMNS = ["id", "problem", "answer", "n_choices", "subject", "text"]
PROMPT_COLUMNS = ["id", "prompt", "text"]
MBPP_SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_records(path: str | Path) -> list[dict]:
    """Rows of a .jsonl / .json (array) / .csv / .parquet file, optionally gzipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task data file not found: {path}")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return pd.read_parquet(path).to_dict("records")
    if name.endswith(".csv"):
        with _open_text(path) as f:
            return pd.read_csv(f, dtype=str, keep_default_na=False).to_dict("records")
    with _open_text(path) as f:
        if name.endswith(".json"):
            rows = json.load(f)
            if not isinstance(rows, list):
                raise ValueError(f"{path}: expected a JSON array of objects")
            return rows
        if not name.endswith(".jsonl"):
            raise ValueError(
                f"{path}: unsupported file type (use .jsonl, .json, .csv or .parquet, optionally .gz)"
            )
        rows = []
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: row {i}: invalid JSON ({e.msg})") from None
        return rows


def _field(row: dict, name: str, where: str, kind=str):
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()) or not isinstance(value, kind):
        raise ValueError(
            f"{where}: field {name!r} is missing, empty or not a {getattr(kind, '__name__', kind)}"
        )
    return value


def stable_fraction(text: str) -> float:
    """A number in [0, 1) fixed by the text (for splits that do not depend on file order or seeds)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


# ---------------------------------------------------------------- code
def mbpp_problem(text: str, first_test: str) -> str:
    """MBPP's task text plus one of its asserts, so that the function name and signature are known."""
    return f"{text.strip()}\nYour code should pass this test:\n{first_test.strip()}\n{CODE_INSTRUCTION}"


def load_mbpp(path: str | Path, split: str = "test") -> pd.DataFrame:
    """MBPP rows of `split` (README splits by task_id; "train+validation" joins both). All three asserts are
    the tests; the prompt shows the first."""
    parts = split.split("+")
    unknown = [p for p in parts if p not in MBPP_SPLITS]
    if unknown:
        raise ValueError(f"mbpp: unknown split(s) {unknown}; known: {sorted(MBPP_SPLITS)}")
    out = []
    for i, row in enumerate(read_records(path), 1):
        where = f"{path}: row {i}"
        task_id = _field(row, "task_id", where, int)
        if not any(MBPP_SPLITS[p][0] <= task_id <= MBPP_SPLITS[p][1] for p in parts):
            continue
        tests = _field(row, "test_list", where, list)
        if not tests or not all(isinstance(t, str) for t in tests):
            raise ValueError(f"{where}: field 'test_list' must be a non-empty list of strings")
        out.append(
            {
                "id": f"mbpp:{task_id}",
                "problem": mbpp_problem(_field(row, "text", where), tests[0]),
                "tests": list(tests),
                "prefix": row.get("test_setup_code") or "",
                "entry_point": None,
                "text": _field(row, "text", where),
            }
        )
    return pd.DataFrame(out, columns=CODE_COLUMNS)


def load_humaneval(path: str | Path) -> pd.DataFrame:
    """HumanEval: the prompt is the signature + docstring; the tests are the task's `check` and its call."""
    out = []
    for i, row in enumerate(read_records(path), 1):
        where = f"{path}: row {i}"
        prompt, entry = _field(row, "prompt", where), _field(row, "entry_point", where)
        out.append(
            {
                "id": _field(row, "task_id", where),
                "problem": (
                    f"Complete the following Python function.\n```python\n{prompt}```\n{CODE_INSTRUCTION}"
                ),
                "tests": [_field(row, "test", where), f"check({entry})"],
                "prefix": prompt,
                "entry_point": entry,
                "text": prompt,
            }
        )
    return pd.DataFrame(out, columns=CODE_COLUMNS)


# ---------------------------------------------------------------- multiple choice
def choice_options(question: str, choices: list[str]) -> str:
    options = "\n".join(f"{LETTERS[i]}. {str(c).strip()}" for i, c in enumerate(choices))
    return f"{question.strip()}\n\n{options}"


def choice_problem(question: str, choices: list[str]) -> str:
    return f"{choice_options(question, choices)}\n\n{CHOICE_INSTRUCTION}"


def _choice_answer(raw, n: int, where: str) -> str:
    if isinstance(raw, bool):
        raise ValueError(f"{where}: field 'answer' must be an option index or letter, got {raw!r}")
    if isinstance(raw, (int, float)) and float(raw).is_integer() and 0 <= int(raw) < n:
        return LETTERS[int(raw)]
    text = str(raw).strip().strip("().").upper()
    if text.isdigit() and 0 <= int(text) < n:
        return LETTERS[int(text)]
    if len(text) == 1 and text in LETTERS[:n]:
        return text
    raise ValueError(f"{where}: field 'answer' {raw!r} is not an option index 0-{n - 1} or a letter")


def load_mmlu(path: str | Path) -> pd.DataFrame:
    """MMLU in any of its common shapes: `choices` as a list (Qwen2.5-Math mmlu_stem, HF cais/mmlu) or columns
    A-D (the original CSVs, with `question`/`answer` headers); `answer` an index or a letter; subject from
    `subject` or `type`."""
    out = []
    for i, row in enumerate(read_records(path), 1):
        where = f"{path}: row {i}"
        question = _field(row, "question", where)
        choices = row.get("choices")
        if choices is None and all(k in row for k in "ABCD"):
            choices = [row[k] for k in "ABCD"]
        if hasattr(choices, "tolist"):
            choices = choices.tolist()
        if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
            raise ValueError(
                f"{where}: field 'choices' must be a list of 2-{len(LETTERS)} options (or columns A-D)"
            )
        if "answer" not in row:
            raise ValueError(f"{where}: field 'answer' is missing")
        out.append(
            {
                "id": f"{row.get('subject') or row.get('type') or 'mmlu'}:{i - 1}",
                "problem": choice_problem(question, choices),
                "answer": _choice_answer(row["answer"], len(choices), where),
                "n_choices": len(choices),
                "subject": row.get("subject") or row.get("type") or "",
                "text": choice_options(question, choices),
            }
        )
    return pd.DataFrame(out, columns=CHOICE_COLUMNS)


# ---------------------------------------------------------------- prompts
def _prompts(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["id", "prompt"])
    return df.assign(text=df["prompt"])[PROMPT_COLUMNS]


def hh_first_turn(transcript: str) -> str:
    """The first Human turn of an hh-rlhf transcript (the Assistant turns are never read)."""
    body = transcript.split("\n\nHuman:", 1)[1] if "\n\nHuman:" in transcript else transcript
    return body.split("\n\nAssistant:", 1)[0].strip()


def load_hh_rlhf(path: str | Path, split: str = "eval") -> pd.DataFrame:
    """The unique first human turns of hh-rlhf, halved by a stable hash of the text: `eval` (refusal
    benchmark) or `train` (prompts for generated safety SFT data; never the dataset's responses)."""
    if split not in ("eval", "train"):
        raise ValueError(f"hh_rlhf: split must be 'eval' or 'train', got {split!r}")
    seen, out = set(), []
    for i, row in enumerate(read_records(path), 1):
        turn = hh_first_turn(_field(row, "chosen", f"{path}: row {i}"))
        if not turn or turn in seen:
            continue
        seen.add(turn)
        if (stable_fraction(turn) < 0.5) == (split == "eval"):
            out.append({"id": f"hh_rlhf:{i - 1}", "prompt": turn})
    return _prompts(out)


def load_advbench(path: str | Path) -> pd.DataFrame:
    return _prompts(
        [
            {"id": f"advbench:{i - 1}", "prompt": _field(r, "goal", f"{path}: row {i}")}
            for i, r in enumerate(read_records(path), 1)
        ]
    )


def load_xstest(path: str | Path, split: str = "safe") -> pd.DataFrame:
    """XSTest prompts labelled `split` (safe: over-refusal eval; unsafe: never used for training)."""
    if split not in ("safe", "unsafe"):
        raise ValueError(f"xstest: split must be 'safe' or 'unsafe', got {split!r}")
    out = []
    for i, r in enumerate(read_records(path), 1):
        where = f"{path}: row {i}"
        if _field(r, "label", where) == split:
            out.append({"id": f"xstest:{_field(r, 'id', where)}", "prompt": _field(r, "prompt", where)})
    return _prompts(out)


def load_mt_bench(path: str | Path) -> pd.DataFrame:
    out = []
    for i, r in enumerate(read_records(path), 1):
        where = f"{path}: row {i}"
        turns = _field(r, "turns", where, list)
        out.append({"id": f"mt_bench:{r.get('question_id', i)}", "prompt": str(turns[0])})
    return _prompts(out)


def load_self_instruct(path: str | Path) -> pd.DataFrame:
    """Self-Instruct seed tasks: the instruction plus its first instance's input (when there is one). The
    human-written outputs are not read: responses are generated and judged by the pipeline."""
    out = []
    for i, r in enumerate(read_records(path), 1):
        where = f"{path}: row {i}"
        prompt = _field(r, "instruction", where).strip()
        instances = r.get("instances") or []
        extra = (
            (instances[0].get("input") or "").strip() if instances and isinstance(instances[0], dict) else ""
        )
        out.append(
            {
                "id": f"self_instruct:{r.get('id', i - 1)}",
                "prompt": f"{prompt}\n\n{extra}" if extra else prompt,
            }
        )
    return _prompts(out)


def load_task_set(spec: dict) -> pd.DataFrame:
    """Load one configured set `{format, path, split?, limit?}` (first `limit` rows, file order)."""
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"task set {spec.get('name')!r}: unknown format {fmt!r}; known: {sorted(FORMATS)}")
    loaders = {
        "mbpp": lambda: load_mbpp(spec["path"], spec.get("split") or "test"),
        "humaneval": lambda: load_humaneval(spec["path"]),
        "mmlu": lambda: load_mmlu(spec["path"]),
        "hh_rlhf": lambda: load_hh_rlhf(spec["path"], spec.get("split") or "eval"),
        "advbench": lambda: load_advbench(spec["path"]),
        "xstest": lambda: load_xstest(spec["path"], spec.get("split") or "safe"),
        "mt_bench": lambda: load_mt_bench(spec["path"]),
        "self_instruct": lambda: load_self_instruct(spec["path"]),
    }
    df = loaders[fmt]()
    if df.empty:
        raise ValueError(
            f"task set {spec.get('name')!r}: {spec['path']} has no rows for split {spec.get('split')!r}"
        )
    limit = spec.get("limit")
    return df.head(limit).reset_index(drop=True) if limit else df


# ---------------------------------------------------------------- the DAG's task sets
SET_KINDS = {"code": "code", "open": "prompts", "safety": "prompts"}


def task_benchmark_index(task_benchmarks: list[dict], ngram: int):
    """An n-gram index over every item of the task benchmarks (whole files: `limit` does not apply)."""
    from r1.decontam import build_ngram_index

    items = {}
    for b in task_benchmarks:
        df = load_task_set({**b, "limit": None})
        for rid, text in zip(df["id"], df["text"], strict=True):
            items[f"{b['name']}:{rid}"] = text
    return build_ngram_index(items, n=ngram)


def build_task_sets(sets: dict, decontam: dict, task_benchmarks: list[dict]):
    """The configured training prompt sets (`tasks.code`, `tasks.open`, `tasks.safety`: lists of task-set
    specs with a `name`), each decontaminated by word n-grams against every benchmark: the math ones (r1.data)
    and the task benchmarks (here). Returns ({set: frame with a `source` column}, contamination, stats)."""
    from r1.data import decontaminate_rows
    from r1.decontam import find_contamination

    n = decontam.get("ngram", 10)
    index = task_benchmark_index(task_benchmarks, n) if decontam.get("drop", True) else None
    frames, dropped, stats = {}, [], {}
    for set_name, specs in sets.items():
        if set_name not in SET_KINDS:
            raise ValueError(f"tasks: unknown set {set_name!r}; known: {sorted(SET_KINDS)}")
        parts = []
        for spec in specs or []:
            if FORMATS.get(spec.get("format")) != SET_KINDS[set_name]:
                raise ValueError(
                    f"tasks.{set_name}: source {spec.get('name')!r} has format {spec.get('format')!r}, "
                    f"not a {SET_KINDS[set_name]} format"
                )
            df = load_task_set(spec).assign(source=spec["name"])
            st = {"rows_in": len(df)}
            df, math_hits = decontaminate_rows(df, "text", decontam)
            hits = [find_contamination(t, index, n=n) for t in df["text"]] if index is not None else []
            mask = pd.Series([h is not None for h in hits], index=df.index, dtype=bool)
            task_hits = (
                df[mask].assign(benchmark_id=[h for h in hits if h is not None])
                if len(hits)
                else df.iloc[0:0]
            )
            df = df[~mask].reset_index(drop=True) if len(hits) else df
            for hit in (math_hits, task_hits):
                if len(hit):
                    dropped.append(hit[["id", "source", "benchmark_id", "text"]].assign(set=set_name))
            st.update(contaminated=len(math_hits) + len(task_hits), kept=len(df))
            stats[f"{set_name}/{spec['name']}"] = st
            parts.append(df)
        frames[set_name] = (
            pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "source"])
        )
    contamination = (
        pd.concat(dropped, ignore_index=True)
        if dropped
        else pd.DataFrame(columns=["id", "source", "benchmark_id", "text", "set"])
    )
    return frames, contamination, stats
