"""Convert the original MATH release (one JSON file per problem) into the files configs/data-math.yaml reads.

    python scripts/convert_math.py MATH_DIR [--out data/math]

MATH_DIR holds `train/<subject>/<n>.json` and `test/<subject>/<n>.json` (Hendrycks et al. 2021; each file has
problem, level, type, solution). Writes, one JSON object per line, rows sorted by subject then n:
  train.jsonl     every train problem (7,500)
  test4500.jsonl  the test problems that are not in MATH-500 (by unique_id: scripts/math500_unique_ids.txt,
                  MATH-500's 500 ids in its file order; ids only, as MATH-500 itself is not shipped)
Each row keeps the source fields and adds `unique_id` ("<split>/<subject>/<n>.json", MATH-500's convention)
and `answer` (the content of the last \\boxed / \\fbox in the solution).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r1.grading.extract import last_boxed

MATH500_IDS = Path(__file__).resolve().parent / "math500_unique_ids.txt"


def convert_split(math_dir: Path, split: str, exclude: set[str] = frozenset()) -> list[dict]:
    files = sorted(
        (math_dir / split).glob("*/*.json"),
        key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else 0),
    )
    if not files:
        raise SystemExit(
            f"{math_dir / split}: no <subject>/<n>.json files (is this the MATH release folder?)"
        )
    rows = []
    for path in files:
        unique_id = f"{split}/{path.parent.name}/{path.name}"
        if unique_id in exclude:
            continue
        row = json.loads(path.read_text(encoding="utf-8"))
        for field in ("problem", "level", "type", "solution"):
            if field not in row:
                raise SystemExit(f"{path}: missing field {field!r}")
        rows.append({"unique_id": unique_id, **row, "answer": last_boxed(row["solution"]) or ""})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("math_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("data/math"))
    args = ap.parse_args()
    math500 = set(MATH500_IDS.read_text(encoding="utf-8").split())
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("train.jsonl", convert_split(args.math_dir, "train")),
        ("test4500.jsonl", convert_split(args.math_dir, "test", exclude=math500)),
    ):
        path = args.out / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{path}: {len(rows)} rows")


if __name__ == "__main__":
    main()
