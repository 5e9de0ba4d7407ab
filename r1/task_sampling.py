"""Generated SFT data beyond math: sample a model on task prompts, keep what a checker accepts.

- open and safety prompts (no reference answer): the judge rates every sample (helpfulness, harmlessness);
  per prompt the best-rated sample is kept if its score reaches `min_score`. This is the paper's non-reasoning
  data (DeepSeek-V3 writes, then its pipeline filters), with r1's own generator and judge.
- code prompts (unit tests): a sample is kept if its code passes every test in the sandbox.

Every sample is recorded (`samples`: prompt, completion, score or test result, keep, reason), so the yield
and each drop are counted.
"""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ["set", "id", "source", "prompt", "sample_idx", "completion", "n_tokens", "truncated"]


def sample_prompts(
    model_dir: str,
    sets: dict[str, pd.DataFrame],
    *,
    samples_per_prompt: int,
    temperature: float,
    max_new_tokens: int,
    generation: dict,
    seed: int,
    n_gpus: int = 0,
    desc: str = "sample",
) -> pd.DataFrame:
    """k samples for every row of every set (column `prompt`, or `problem` for code), one generator load."""
    from r1.generation import SamplingParams, load_generator
    from r1.prompts import render_prompt
    from r1.sampling import generator_options

    gen = load_generator(
        model_dir,
        generation.get("backend", "transformers"),
        resumable=True,
        **generator_options(generation, n_gpus),
    )
    rows, rendered = [], []
    for name, df in sets.items():
        texts = df["prompt"] if "prompt" in df.columns else df["problem"]
        for (_, r), text in zip(df.iterrows(), texts, strict=True):
            rows.append((name, r["id"], r.get("source", name), text))
            rendered.append(render_prompt(gen.tokenizer, text, "chat", instruction=None))
    params = SamplingParams(
        n=samples_per_prompt, temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens, seed=seed
    )
    outs = gen.generate(rendered, params, desc=desc) if rendered else []
    records = [
        {
            "set": name,
            "id": rid,
            "source": source,
            "prompt": text,
            "sample_idx": j,
            "completion": s.text,
            "n_tokens": s.n_tokens,
            "truncated": s.truncated,
        }
        for (name, rid, source, text), samples in zip(rows, outs, strict=True)
        for j, s in enumerate(samples)
    ]
    return pd.DataFrame(records, columns=SAMPLE_COLUMNS)


def sample_for_job(job, model_dir: str, sets: dict[str, pd.DataFrame], cfg: dict, desc: str) -> pd.DataFrame:
    """sample_prompts with a stage's sampling section (`samples_per_prompt`, `temperature`,
    `max_new_tokens`) and the job's generation settings, seed and GPUs."""
    return sample_prompts(
        model_dir,
        sets,
        samples_per_prompt=cfg["samples_per_prompt"],
        temperature=cfg.get("temperature", 0.7),
        max_new_tokens=cfg["max_new_tokens"],
        generation=job.params["generation"],
        seed=job.seed,
        n_gpus=job.gpus,
        desc=desc,
    )


def keep_best_judged(samples: pd.DataFrame, scores: list[float | None], min_score: float) -> pd.DataFrame:
    """Per prompt, keep the best-scored sample when its score >= min_score (ties: the first sample)."""
    out = samples.copy()
    out["score"] = pd.Series(scores, index=out.index, dtype="float64")
    out["keep"] = False
    out["reason"] = [
        "judge_failed" if pd.isna(s) else "below_min_score" if s < min_score else "not_best"
        for s in out["score"]
    ]
    ok = out[out["score"].notna() & (out["score"] >= min_score)]
    best = ok.sort_values(["id", "score", "sample_idx"], ascending=[True, False, True]).groupby("id").head(1)
    out.loc[best.index, "keep"] = True
    out.loc[best.index, "reason"] = None
    return out


def judge_samples(samples: pd.DataFrame, judge, rubric: str, min_score: float, drop_truncated: bool = True):
    """Rate each sample's answer part with the judge's `rubric` and mark the kept ones (keep_best_judged)."""
    from r1.judge.rubrics import answer_part

    answers = [answer_part(c) for c in samples["completion"]]
    scores = judge.rate(rubric, samples["prompt"].tolist(), answers) if len(samples) else []
    if drop_truncated:  # an answer cut at max_new_tokens is not an answer, whatever the judge says
        scores = [None if t else s for s, t in zip(scores, samples["truncated"], strict=True)]
    out = keep_best_judged(samples, scores, min_score)
    if drop_truncated:
        out.loc[out["truncated"].astype(bool), "reason"] = "truncated"
    return out


def run_code_samples(samples: pd.DataFrame, tasks: pd.DataFrame, sandbox) -> pd.DataFrame:
    """Run each code sample against its task's tests; keep the passing ones."""
    from r1.eval.tasks import score_code

    by_id = tasks.set_index("id")
    expanded = by_id.loc[samples["id"]].reset_index()
    scored = pd.DataFrame(score_code(samples["completion"].tolist(), expanded, sandbox), index=samples.index)
    out = samples.copy()
    out["keep"] = scored["correct"].astype(bool)
    out["correct"] = out["keep"]
    out["reason"] = [
        None if k else f"tests_{status}" for k, status in zip(out["keep"], scored["extracted"], strict=True)
    ]
    out["detail"] = scored["detail"]
    return out


def sft_rows(kept: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Kept samples as SFT pairs: the prompt as the model saw it (no math instruction), the response as
    written."""
    return pd.DataFrame(
        {
            "id": kept["id"].tolist(),
            "source": kept["source"].tolist(),
            "prompt": kept["prompt"].tolist(),
            "completion": [c.strip() for c in kept["completion"]],
            "kind": kind,
        }
    )


def yield_stats(judged: pd.DataFrame) -> dict:
    """Prompts, samples, kept prompts, yield (kept / prompts) and the drop reasons."""
    n_prompts = int(judged["id"].nunique()) if len(judged) else 0
    kept = int(judged["keep"].sum()) if len(judged) else 0
    reasons = judged.loc[~judged["keep"], "reason"].value_counts().to_dict() if len(judged) else {}
    out = {
        "n_prompts": n_prompts,
        "n_samples": len(judged),
        "kept": kept,
        "yield": kept / n_prompts if n_prompts else 0.0,
    }
    if "score" in judged.columns and len(judged):
        out["mean_score"] = float(judged["score"].mean()) if judged["score"].notna().any() else None
    out.update({f"dropped_{k}": int(v) for k, v in reasons.items()})
    return out
