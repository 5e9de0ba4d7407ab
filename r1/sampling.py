"""Sample a model on prompt rows and grade every sample (cold start, rejection sampling, distillation)."""

from __future__ import annotations

import logging

import pandas as pd

from r1.generation import SamplingParams, load_generator
from r1.prompts import MATH_INSTRUCTION, render_prompt

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = [
    "id",
    "problem",
    "answer",
    "language",
    "sample_idx",
    "prompt",
    "completion",
    "n_tokens",
    "truncated",
    "extracted",
    "correct",
    "timed_out",
    "instruction",
]


def generator_options(generation: dict, n_gpus: int = 0, nodes: int = 1) -> dict:
    """Backend options from config `generation`; vLLM's tensor parallelism = the GPUs this job was granted."""
    backend = generation["backend"]
    if backend == "transformers":
        opts = {
            k: generation[k]
            for k in ("dtype", "device", "batch_size", "cache_implementation")
            if k in generation
        }
        return opts
    from r1.launch import vllm_parallelism

    opts = {k: generation[k] for k in ("dtype",) if k in generation}
    if n_gpus > 1:
        opts["tensor_parallel_size"] = vllm_parallelism(n_gpus, nodes)["tensor_parallel_size"]
    return {**opts, **generation["vllm"]}


def prompt_rows(train_parquet: str, n: int, seed: int) -> pd.DataFrame:
    """n prompt rows drawn from the training prompts (seeded)."""
    train = pd.read_parquet(train_parquet)
    return train.sample(n=min(n, len(train)), random_state=seed + 1).reset_index(drop=True)


def sample_and_grade(
    model_dir: str,
    rows: pd.DataFrame,
    *,
    prompt_style: str,
    samples_per_prompt: int,
    temperature: float,
    max_new_tokens: int,
    generation: dict,
    grading: dict,
    seed: int,
    prefill: str = "",
    desc: str = "sample",
    n_gpus: int = 0,
) -> pd.DataFrame:
    from r1.grading import grade_batch

    gen = load_generator(
        model_dir, generation["backend"], resumable=True, **generator_options(generation, n_gpus)
    )
    # a row may carry its own instruction ("": the problem alone, e.g. a prompt without a reference)
    instructions = [
        i if isinstance(i, str) else MATH_INSTRUCTION
        for i in (rows["instruction"] if "instruction" in rows else [None] * len(rows))
    ]
    prompts = [
        render_prompt(gen.tokenizer, p, prompt_style, instruction=i, prefill=prefill)
        for p, i in zip(rows["problem"], instructions, strict=True)
    ]
    params = SamplingParams(
        n=samples_per_prompt, temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens, seed=seed
    )
    outs = gen.generate(prompts, params, desc=desc)
    records = []
    for (_, row), prompt, instruction, samples in zip(
        rows.iterrows(), prompts, instructions, outs, strict=True
    ):
        for j, s in enumerate(samples):
            records.append(
                {
                    "id": row["id"],
                    "problem": row["problem"],
                    "answer": row["answer"],
                    "language": row.get("language", "en"),
                    "sample_idx": j,
                    "prompt": prompt,
                    "completion": prefill + s.text,
                    "n_tokens": s.n_tokens,
                    "truncated": s.truncated,
                    "instruction": instruction,
                }
            )
    df = pd.DataFrame(
        records, columns=[c for c in SAMPLE_COLUMNS if c not in ("extracted", "correct", "timed_out")]
    )
    grades = grade_batch(
        df["completion"].tolist(),
        df["answer"].tolist(),
        mode=grading["mode"],
        timeout_s=grading["timeout_s"],
        desc=f"{desc} grading",
    )
    df["extracted"] = [g.extracted for g in grades]
    df["correct"] = [g.correct for g in grades]
    df["timed_out"] = [g.timed_out for g in grades]
    n_ok = int((df["correct"] == True).sum())  # noqa: E712 - correct may be None
    log.info(
        "%s: %d samples from %d prompts, %d correct (%.1f%%), %d truncated, mean %.1f tokens",
        desc,
        len(df),
        len(rows),
        n_ok,
        100 * n_ok / max(1, len(df)),
        int(df["truncated"].sum()),
        df["n_tokens"].mean(),
    )
    return df


def sample_job(job, model_dir: str, rows: pd.DataFrame, *, prompt_style: str, seed: int, desc: str):
    """sample_and_grade for a generate-and-filter job (r1.rulekit.JobSpec): the sampling keys of its config
    section (samples_per_prompt, temperature, max_new_tokens), its generation and grading slices, its GPUs."""
    cfg = job.cfg
    return sample_and_grade(
        model_dir,
        rows,
        prompt_style=prompt_style,
        samples_per_prompt=cfg["samples_per_prompt"],
        temperature=cfg["temperature"],
        max_new_tokens=cfg["max_new_tokens"],
        generation=job.params["generation"],
        grading=job.params["grading"],
        seed=seed,
        desc=desc,
        n_gpus=job.gpus,
    )
