"""User-supplied SFT files (non-reasoning, safety/consistency, cold start): prompt + completion rows; prompt
files without a reference answer (distillation's `unreferenced_prompts`)."""

from __future__ import annotations

import pandas as pd


def read_sft_files(paths: list[str], source: str) -> pd.DataFrame:
    """User SFT files (jsonl/parquet with prompt + completion); a bad row is an error naming file, line, field."""
    from pathlib import Path

    from r1.atomic import read_jsonl

    frames = []
    for path in paths:
        rows = (
            pd.read_parquet(path).to_dict("records") if Path(path).suffix == ".parquet" else read_jsonl(path)
        )
        for i, r in enumerate(rows, 1):
            for field in ("prompt", "completion"):
                if not isinstance(r.get(field), str) or not r[field].strip():
                    raise ValueError(f"{path}: row {i}: field '{field}' is missing or empty")
        frames.append(
            pd.DataFrame(
                {
                    "id": [f"{Path(path).stem}:{i}" for i in range(len(rows))],
                    "source": source,
                    "prompt": [r["prompt"] for r in rows],
                    "completion": [r["completion"] for r in rows],
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["id", "source", "prompt", "completion"])
    )


def read_prompt_files(paths: list[str]) -> pd.DataFrame:
    """Prompts without a reference answer (jsonl/parquet with a `prompt` field; other fields are ignored) as
    sampling rows: answer "" (the grader gives their samples correct=None) and instruction "" (none)."""
    from pathlib import Path

    from r1.atomic import read_jsonl

    rows = []
    for path in paths:
        records = (
            pd.read_parquet(path).to_dict("records") if Path(path).suffix == ".parquet" else read_jsonl(path)
        )
        for i, r in enumerate(records, 1):
            if not isinstance(r.get("prompt"), str) or not r["prompt"].strip():
                raise ValueError(f"{path}: row {i}: field 'prompt' is missing or empty")
            rows.append(
                {
                    "id": f"unreferenced:{Path(path).stem}:{i - 1}",
                    "problem": r["prompt"].strip(),
                    "answer": "",
                    "language": r.get("language") or "en",
                    "instruction": "",
                }
            )
    return pd.DataFrame(rows, columns=["id", "problem", "answer", "language", "instruction"])
