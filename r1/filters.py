"""Quality filters for generated reasoning (cold start, rejection sampling, distillation) and reformatting.

Each sample gets `keep` and the first failed check's `reason`, so every drop is counted and auditable.
Correctness is not a filter one can turn off: a sample the grader marked incorrect (`correct` False) is
never kept, and a sample whose reference the grader cannot use (`correct` None: no reference) is kept only
by `select_samples`' explicit `fill: unreferenced`, marked `reference: False`. `quality_reason` is the first
failed check other than correctness, so that fill knows which unreferenced samples are otherwise clean.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from r1.text import has_think_format, language_consistency, readability, repetition_ratio, split_think

CODE_BLOCK = re.compile(r"```")
BOXED = re.compile(r"\\boxed\{")
log = logging.getLogger(__name__)


FILLS = ("none", "unreferenced")


class TooFewSamples(ValueError):
    """Fewer kept samples than a stage's `min_examples`."""


def correctness_reason(correct) -> str | None:
    if correct is True:
        return None
    return "no_reference" if correct is None or pd.isna(correct) else "incorrect"


def check_sample(row, filters: dict, prefilled: bool = False) -> str | None:
    """The reason to drop one sample (correctness first, then the quality filters), or None to keep it."""
    return correctness_reason(row.get("correct")) or quality_reason(row, filters, prefilled)


def quality_reason(row, filters: dict, prefilled: bool = False) -> str | None:
    """The first failed quality check (format, truncation, repetition, language, code, readability)."""
    text = row["completion"]
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
    if readability(text, row.get("language") or "en") < filters.get("min_readability", 0.0):
        return "readability"
    return None


def apply_filters(samples: pd.DataFrame, filters: dict, prefilled: bool = False) -> pd.DataFrame:
    out = samples.copy()
    quality = [quality_reason(r, filters, prefilled) for _, r in out.iterrows()]
    reasons = [correctness_reason(c) or q for c, q in zip(out["correct"], quality, strict=True)]
    out["quality_reason"] = quality
    out["reason"] = reasons
    out["keep"] = [r is None for r in reasons]
    return out


def select_samples(
    filtered: pd.DataFrame, stage: str, min_examples: int = 0, fill: str = "none"
) -> tuple[pd.DataFrame, dict]:
    """The samples a model may train on: every verified (grader-correct) sample that passed the filters.

    With fewer than `min_examples` of them the stage fails with the counts, unless `fill: unreferenced`, which
    adds clean samples that have no usable reference (shortest first), marked `reference` False. A sample the
    grader marked incorrect is never selected. Returns (rows with `verified` and `reference`, counts).
    """
    if fill not in FILLS:
        raise ValueError(f"{stage}.fill: {fill!r} is not one of {list(FILLS)}")
    verified = filtered[filtered["keep"]].assign(verified=True, reference=True)
    unreferenced = filtered[(filtered["reason"] == "no_reference") & filtered["quality_reason"].isna()]
    need = max(0, min_examples - len(verified))
    pool = unreferenced.sort_values("n_tokens", kind="stable") if "n_tokens" in unreferenced else unreferenced
    filled = pool.head(need if fill == "unreferenced" else 0).assign(verified=False, reference=False)
    counts = {
        "samples": len(filtered),
        "verified": len(verified),
        "incorrect": int((filtered["reason"] == "incorrect").sum()),
        "no_reference": int((filtered["reason"] == "no_reference").sum()),
        "no_reference_clean": len(unreferenced),
        "failed_filters": int((filtered["correct"].eq(True) & filtered["quality_reason"].notna()).sum()),
        "filled_unreferenced": len(filled),
        "min_examples": min_examples,
        "fill": fill,
    }
    if len(verified) + len(filled) < min_examples:
        raise TooFewSamples(
            f"{stage}: only {len(verified)} verified samples (of {counts['samples']}: {counts['incorrect']} "
            f"incorrect, {counts['no_reference']} without a usable reference, {counts['failed_filters']} "
            f"failing the quality filters)"
            + (f", filled with {len(filled)} clean unreferenced samples" if fill == "unreferenced" else "")
            + f"; {stage}.min_examples is {min_examples}. A sample the grader marked incorrect is never "
            f"trained on. Sample more (num_prompts, samples_per_prompt), lower {stage}.min_examples"
            + (
                ""
                if fill == "unreferenced"
                else f", or set {stage}.fill: unreferenced with prompts that have no reference"
            )
            + "."
        )
    if len(filled):
        log.warning(
            "%s: %d verified samples < min_examples %d: filled %d samples without a reference (marked)",
            stage,
            len(verified),
            min_examples,
            len(filled),
        )
    return pd.concat([verified, filled], ignore_index=True), counts


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
    """Kept samples → SFT pairs: prompt = the user's problem with its instruction (a row's `instruction`;
    "" for none; the math instruction when absent), completion reformatted to `<think>reasoning</think>
    summary`; a sample without a reference keeps its completion as generated. `verified` / `reference`
    columns are carried over."""
    from r1.prompts import MATH_INSTRUCTION, user_message

    instructions = [
        i if isinstance(i, str) else MATH_INSTRUCTION
        for i in (kept["instruction"] if "instruction" in kept else [None] * len(kept))
    ]
    references = kept["reference"] if "reference" in kept else [True] * len(kept)
    out = pd.DataFrame(
        {
            "id": kept["id"].tolist(),
            "source": "generated",
            "prompt": [user_message(p, i) for p, i in zip(kept["problem"], instructions, strict=True)],
            "completion": [
                to_reasoning_summary(c, e, prefilled) if ref else c.strip()
                for c, e, ref in zip(kept["completion"], kept["extracted"], references, strict=True)
            ],
        }
    )
    for col in ("verified", "reference"):
        if col in kept:
            out[col] = kept[col].astype(bool).tolist()
    return out
