"""Benchmark files -> a clean `id, problem, answer` frame.

A benchmark is any jsonl or parquet file plus a `BenchmarkSpec` naming its fields. The reference answer is
reduced to the final answer string according to `answer_format`:

- ``gsm8k``   : the text after the last ``#### `` marker, thousands commas removed
  (``"1,450,000"`` -> ``"1450000"``)
- ``latex``   : kept as written (MATH-500's ``\\frac{14}{3}``), whitespace-stripped
- ``integer`` : kept as written so zero padding survives (AIME's ``"025"``); must look like an integer
- ``float``   : kept as written (AMC's ``"27.0"``); must parse as a float
- ``choice``  : one upper-case letter (``"b"``, ``"(B)"``, ``"B."`` -> ``"B"``)

Problem ids are the `id_field` value when given, else the 0-based row index as a string. Rows with a missing
or empty field raise ``BenchmarkError`` (a ValueError) naming the file, the 1-based row and the field. `limit`
keeps the first N rows (file order, deterministic) and only those rows are validated.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from r1.atomic import read_jsonl

ANSWER_FORMATS = ("gsm8k", "latex", "integer", "float", "choice")

ASSETS = Path(__file__).resolve().parent / "assets" / "benchmarks"
# MATH-500 is MATH test content (MAA / AoPS problems) and is not shipped: a user puts it here (docs/data.md
# says where to get it and its sha256). Relative to the working directory, like configs/data-math.yaml's.
MATH500_PATH = "data/benchmarks/math500/test.jsonl"


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    path: str
    problem_field: str
    answer_field: str
    answer_format: str
    id_field: str | None = None
    limit: int | None = None

    def __post_init__(self):
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(
                f"benchmark {self.name!r}: unknown answer_format {self.answer_format!r}; "
                f"expected one of {ANSWER_FORMATS}"
            )
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"benchmark {self.name!r}: limit must be >= 1 (got {self.limit})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, entry: dict, **overrides) -> BenchmarkSpec:
        """A `benchmarks:` config entry without its config-only keys (solution_field, sha256)."""
        return cls(**{k: v for k, v in {**entry, **overrides}.items() if k in cls.__dataclass_fields__})


DEFAULT_BENCHMARKS: dict[str, BenchmarkSpec] = {
    "gsm8k": BenchmarkSpec(
        name="gsm8k",
        path=str(ASSETS / "gsm8k" / "test.jsonl"),
        problem_field="question",
        answer_field="answer",
        answer_format="gsm8k",
    ),
    "math500": BenchmarkSpec(
        name="math500",
        path=MATH500_PATH,
        problem_field="problem",
        answer_field="answer",
        answer_format="latex",
        id_field="unique_id",
    ),
}

_INT_RE = re.compile(r"[+-]?\d+")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CHOICE_RE = re.compile(r"\(?\s*([A-Za-z])\s*[).:]?")


class BenchmarkError(ValueError):
    """A benchmark row that cannot be used (missing field, malformed answer)."""


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def reference_answer(raw, answer_format: str) -> str:
    """Reduce a raw reference field to the final answer string (see module docstring).

    Raises ValueError for a malformed answer, TypeError for a non-scalar one.
    """
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise TypeError(f"answer must be a string or number, got {type(raw).__name__}")
    text = str(raw).strip()
    if answer_format == "gsm8k":
        if "####" not in text:
            raise ValueError("gsm8k answer has no '#### ' final-answer marker")
        text = text.rsplit("####", 1)[1].strip()
        text = _THOUSANDS_RE.sub("", text)
    elif answer_format == "latex":
        pass
    elif answer_format == "integer":
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError(f"integer answer expected, got {raw!r}")
            text = str(int(raw))
        if not _INT_RE.fullmatch(text):
            raise ValueError(f"integer answer expected, got {text!r}")
    elif answer_format == "float":
        try:
            float(text)
        except ValueError:
            raise ValueError(f"float answer expected, got {text!r}") from None
    elif answer_format == "choice":
        m = _CHOICE_RE.fullmatch(text)
        if not m:
            raise ValueError(f"multiple-choice letter expected, got {text!r}")
        text = m.group(1).upper()
    else:
        raise ValueError(f"unknown answer_format {answer_format!r}; expected one of {ANSWER_FORMATS}")
    if not text:
        raise ValueError("final answer is empty")
    return text


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a jsonl or parquet file as dicts (file order)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"benchmark file not found: {path} (docs/data.md says which benchmarks ship with r1 and "
            "where to get the others, such as MATH-500)"
        )
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() in (".jsonl", ".json") or suffixes.endswith(".jsonl"):
        return read_jsonl(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path).to_dict(orient="records")
    raise ValueError(f"benchmark file {path}: unsupported extension (expected .jsonl or .parquet)")


def load_benchmark(spec: BenchmarkSpec) -> pd.DataFrame:
    """Load `spec` as a DataFrame with string columns `id, problem, answer` (one row per problem)."""
    rows = read_rows(spec.path)
    if spec.limit is not None:
        rows = rows[: spec.limit]
    if not rows:
        raise BenchmarkError(f"{spec.path}: benchmark {spec.name!r} has no rows")
    ids, problems, answers = [], [], []
    for i, row in enumerate(rows):
        where = f"{spec.path}: row {i + 1}"
        fields = [spec.problem_field, spec.answer_field] + ([spec.id_field] if spec.id_field else [])
        for field in fields:
            if field not in row or _is_missing(row[field]):
                raise BenchmarkError(
                    f"{where}: field {field!r} is missing or empty (row has fields {sorted(row)})"
                )
        if not isinstance(row[spec.problem_field], str):
            raise BenchmarkError(f"{where}: field {spec.problem_field!r} must be a string")
        try:
            answer = reference_answer(row[spec.answer_field], spec.answer_format)
        except (TypeError, ValueError) as e:
            raise BenchmarkError(
                f"{where}: field {spec.answer_field!r} (answer_format={spec.answer_format}): {e}"
            ) from None
        ids.append(str(row[spec.id_field]) if spec.id_field else str(i))
        problems.append(row[spec.problem_field])
        answers.append(answer)
    seen: dict[str, int] = {}
    for i, pid in enumerate(ids):
        if pid in seen:
            raise BenchmarkError(
                f"{spec.path}: rows {seen[pid] + 1} and {i + 1}: duplicate id {pid!r} "
                f"in field {spec.id_field!r}"
            )
        seen[pid] = i
    return pd.DataFrame({"id": ids, "problem": problems, "answer": answers}, dtype=object)


def resolve_benchmark(
    benchmark: str,
    problem_field: str | None = None,
    answer_field: str | None = None,
    answer_format: str | None = None,
    id_field: str | None = None,
    limit: int | None = None,
    name: str | None = None,
) -> BenchmarkSpec:
    """A default benchmark by name (fields overridable) or a file path.

    For a path the fields default to ``problem``/``answer``/``latex`` and the name to the file stem (the
    parent folder's name when the stem is a split name such as ``test``).
    """
    given = {
        "problem_field": problem_field,
        "answer_field": answer_field,
        "answer_format": answer_format,
        "id_field": id_field,
        "limit": limit,
        "name": name,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if benchmark in DEFAULT_BENCHMARKS:
        return replace(DEFAULT_BENCHMARKS[benchmark], **overrides)
    path = Path(benchmark)
    if not path.exists():
        raise FileNotFoundError(
            f"--benchmark {benchmark!r}: neither a default benchmark "
            f"({', '.join(DEFAULT_BENCHMARKS)}) nor an existing file"
        )
    stem = path.name.split(".")[0]
    default_name = path.parent.name if stem in ("test", "train", "validation", "val", "dev", "data") else stem
    base = {
        "name": default_name or stem,
        "path": str(path),
        "problem_field": "problem",
        "answer_field": "answer",
        "answer_format": "latex",
    }
    base.update(overrides)
    return BenchmarkSpec(**base)
