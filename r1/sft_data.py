"""User-supplied SFT files (non-reasoning, safety/consistency, cold start): prompt + completion rows; prompt
files without a reference answer (distillation's `unreferenced_prompts`)."""

from __future__ import annotations

import re

import pandas as pd

_CALC = re.compile(r"<<[^<>]*>>")  # GSM8K calculator annotations
_SIGNATURE = re.compile(r"^[ \t]*~[^\n]*$", re.MULTILINE)  # AoPS-wiki contributor lines ("~Lucas")
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def unbox(text: str) -> str:
    """Every `\\boxed{X}` / `\\fbox{X}` replaced by X (brace-matched; an unclosed box is left as it is)."""
    from r1.grading.extract import _braced

    out, pos = [], 0
    for _ in range(100):
        m = _BOX.search(text, pos)
        if not m:
            break
        inner = _braced(text, m.end() - 1)
        if inner is None:
            break
        out.append(text[pos : m.start()] + inner)
        pos = m.end() + len(inner) + 1
    return "".join(out) + text[pos:]


def solution_to_reasoning(solution: str, answer_format: str | None) -> str:
    """A human-written reference solution as reasoning text: GSM8K's `<<calc>>` annotations and `#### N`
    line removed; in a LaTeX solution (MATH, AIME) every `\\boxed{X}` unwrapped and AoPS signature lines
    dropped."""
    if answer_format == "gsm8k":
        text = _CALC.sub("", solution.rsplit("####", 1)[0])
    else:
        text = _SIGNATURE.sub("", unbox(solution))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def seed_completion(reasoning: str, answer: str) -> str:
    """The R1 cold-start format: `<think>` reasoning `</think>`, then a summary with the boxed answer."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\nThe answer is $\\boxed{{{answer}}}$."


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


def seed_examples(spec: dict, seed: int, min_readability: float = 0.0) -> tuple[pd.DataFrame, dict]:
    """Cold-start seed examples of one source: rows with a reasoning trace (a human solution rewritten by
    `solution_to_reasoning`, or a generator's trace) in the R1 format, kept when readable.

    Returns (prompt/completion rows, counts: rows read, without reasoning, unreadable, kept)."""
    from r1.data import load_source
    from r1.prompts import user_message
    from r1.readability import readability

    good, bad = load_source(spec, seed)
    with_reasoning = [g for g in good if isinstance(g.get("reasoning"), str) and g["reasoning"].strip()]
    rows, unreadable = [], 0
    for g in with_reasoning:
        completion = seed_completion(g["reasoning"], g["answer"])
        if readability(completion, g["language"]) < min_readability:
            unreadable += 1
            continue
        rows.append(
            {
                "id": g["id"],
                "source": spec["name"],
                "prompt": user_message(g["problem"]),
                "completion": completion,
            }
        )
    counts = {
        "rows": len(good) + len(bad),
        "quarantined": len(bad),
        "no_reasoning": len(good) - len(with_reasoning),
        "unreadable": unreadable,
        "kept": len(rows),
    }
    return pd.DataFrame(rows, columns=["id", "source", "prompt", "completion"]), counts
