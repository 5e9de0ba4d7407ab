"""Quality filters for generated reasoning (cold start, rejection sampling, distillation) and reformatting.

Each sample gets `keep` and the first failed check's `reason`, so every drop is counted and auditable.
"""

from __future__ import annotations

import re

import pandas as pd

from r1.text import has_think_format, language_consistency, readability, repetition_ratio, split_think

CODE_BLOCK = re.compile(r"```")
BOXED = re.compile(r"\\boxed\{")


def check_sample(row, filters: dict, prefilled: bool = False) -> str | None:
    """The reason to drop one sample, or None to keep it."""
    text = row["completion"]
    if filters.get("require_correct", True) and row.get("correct") is not True:
        return "unparseable_gold" if row.get("correct") is None else "incorrect"
    if filters.get("require_think_format", False) and not has_think_format(text, prefilled=prefilled):
        return "no_think_format"
    if filters.get("drop_truncated", False) and row.get("truncated"):
        return "truncated"
    if repetition_ratio(text) > filters.get("max_repetition", 1.0):
        return "repetition"
    if language_consistency(text, row.get("language") or "en") < filters.get("min_language_consistency", 0.0):
        return "language_mixing"
    if filters.get("drop_code_blocks", False) and CODE_BLOCK.search(text):
        return "code_block"
    if readability(text) < filters.get("min_readability", 0.0):
        return "readability"
    return None


def apply_filters(samples: pd.DataFrame, filters: dict, prefilled: bool = False) -> pd.DataFrame:
    out = samples.copy()
    reasons = [check_sample(r, filters, prefilled) for _, r in out.iterrows()]
    out["reason"] = reasons
    out["keep"] = [r is None for r in reasons]
    return out


def drop_counts(filtered: pd.DataFrame) -> dict:
    counts = filtered.loc[~filtered["keep"], "reason"].value_counts().to_dict()
    return {
        "n_samples": len(filtered),
        "kept": int(filtered["keep"].sum()),
        **{f"dropped_{k}": int(v) for k, v in counts.items()},
    }


def to_reasoning_summary(completion: str, extracted: str | None, prefilled: bool = False) -> str:
    """The cold-start format: `<think>\\nreasoning\\n</think>\\n\\nsummary` with a boxed answer."""
    reasoning, summary = split_think(completion, prefilled=prefilled)
    if reasoning is None:
        reasoning, summary = completion, ""
    summary = re.sub(r"</?answer>", "", summary).strip()
    if extracted and not BOXED.search(summary):
        summary = (summary + "\n\n" if summary else "") + f"The final answer is $\\boxed{{{extracted}}}$."
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{summary.strip()}"


def sft_rows(kept: pd.DataFrame, prefilled: bool = False) -> pd.DataFrame:
    """Kept samples → SFT pairs (prompt: the problem with the math instruction; completion reformatted)."""
    from r1.prompts import user_message

    return pd.DataFrame(
        {
            "id": kept["id"].tolist(),
            "source": "generated",
            "prompt": [user_message(p) for p in kept["problem"]],
            "completion": [
                to_reasoning_summary(c, e, prefilled)
                for c, e in zip(kept["completion"], kept["extracted"], strict=True)
            ],
        }
    )
