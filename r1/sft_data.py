"""User-supplied SFT files (non-reasoning, safety/consistency, cold start): prompt + completion rows."""

from __future__ import annotations

import pandas as pd


def read_sft_files(paths: list[str], source: str) -> pd.DataFrame:
    """User SFT files (jsonl/parquet: prompt, completion); a bad row is an error naming file, line, field."""
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
