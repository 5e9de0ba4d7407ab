"""Evaluations beyond math: code (pass@k in the sandbox), multiple choice (letter extraction), safety (refusal
rate on harmful prompts, over-refusal on safe ones) and judged open-ended prompts.

A task benchmark is `{name, kind, format, path, split?, limit?}` (r1.tasks reads the file):

| kind         | formats           | per sample                                 | headline metric            |
|--------------|-------------------|--------------------------------------------|----------------------------|
| code         | mbpp, humaneval   | the last ```python block passes every test | pass@1, pass@k             |
| choice       | mmlu              | the extracted letter equals the answer     | pass@1 (accuracy), cons@k  |
| refusal      | advbench, hh_rlhf | the answer is a refusal                    | refusal_rate (high: safe)  |
| over_refusal | xstest            | the answer is a refusal                    | refusal_rate (low: good)   |
| judged       | mt_bench, prompts | the judge's helpfulness score in [0, 1]    | judge_score                |

Refusals are detected by XSTest's string-match classifier (r1.judge.rubrics.is_refusal_strmatch) or, with
`refusal_classifier: judge`, by the judge. Sampling follows the eval protocol (k samples at its temperature,
no system prompt); the problems carry their own instructions (r1.tasks), so no math instruction is added.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass

import pandas as pd

from r1.eval.metrics import summarize
from r1.eval.runner import EvalProtocol, chat_template_sha256
from r1.tasks import FORMATS, LETTERS, load_task_set

log = logging.getLogger(__name__)

KINDS = {
    "code": "code",
    "choice": "choice",
    "refusal": "prompts",
    "over_refusal": "prompts",
    "judged": "prompts",
}
REFUSAL_CLASSIFIERS = ("strmatch", "judge")


@dataclass(frozen=True)
class TaskBenchmark:
    name: str
    kind: str
    format: str
    path: str
    split: str | None = None
    limit: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"benchmark {self.name!r}: unknown kind {self.kind!r}; known: {list(KINDS)}")
        if FORMATS.get(self.format) != KINDS[self.kind]:
            fits = [f for f, shape in FORMATS.items() if shape == KINDS[self.kind]]
            raise ValueError(
                f"benchmark {self.name!r}: format {self.format!r} does not fit kind {self.kind!r} "
                f"(use one of {fits})"
            )

    def load(self) -> pd.DataFrame:
        return load_task_set(asdict(self))


# ---------------------------------------------------------------- multiple choice
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*\(?([A-Za-z])\)?(?=[\s.:)}])")
_ANSWER_IS = re.compile(r"(?i)\b(?:answer|option|choice)\s*(?:is|:)\s*:?\s*\**\s*\(?([A-Z])\)?(?![A-Za-z])")
_ALONE = re.compile(r"^\s*\**\(?([A-Z])\)?[.)]?\**\s*$")
_LEADING = re.compile(r"^\s*\**\(?([A-Z])[.)]\s")


def extract_choice(text: str, n_choices: int = 4) -> str | None:
    """The chosen letter in the answer part (after </think>): the last \\boxed{X}, else the last
    "answer is X" / "Answer: X", else an answer that is only a letter, or starts with "X." / "(X)". None
    when nothing matches or the letter is not an option."""
    from r1.judge.rubrics import answer_part

    ans = answer_part(text or "")[-4000:]
    letters = LETTERS[:n_choices]
    for pattern in (_BOXED, _ANSWER_IS):
        found = [m.upper() for m in pattern.findall(ans)]
        if found:
            return found[-1] if found[-1] in letters else None
    for pattern in (_ALONE, _LEADING):
        m = pattern.match(ans)
        if m:
            return m.group(1) if m.group(1) in letters else None
    return None


# ---------------------------------------------------------------- scoring by kind
def score_code(completions: list[str], tasks: pd.DataFrame, sandbox) -> list[dict]:
    """Run each completion's code against its task's tests (tasks aligned with completions)."""
    from r1.sandbox import Job, extract_code, program_for

    jobs, where = [], []
    out = [{"correct": False, "extracted": "no_code", "detail": "no ```python block"} for _ in completions]
    for i, (text, (_, task)) in enumerate(zip(completions, tasks.iterrows(), strict=True)):
        code = extract_code(text)
        if code is not None:
            jobs.append(Job(program_for(code, task["prefix"], task["entry_point"]), list(task["tests"])))
            where.append(i)
    for i, res in zip(where, sandbox.run(jobs), strict=True):
        out[i] = {
            "correct": res.passed,
            "extracted": res.status,
            "detail": f"{res.n_passed}/{res.n_tests} tests; {res.reason or ''}"[:300],
        }
    return out


def refusals(prompts: list[str], completions: list[str], classifier: str, judge=None) -> list[bool | None]:
    from r1.judge.rubrics import is_refusal_strmatch

    if classifier == "strmatch":
        return [is_refusal_strmatch(c) for c in completions]
    if classifier == "judge":
        if judge is None:
            raise ValueError("refusal_classifier 'judge' needs a judge (config `judge`)")
        return judge.is_refusal(prompts, completions)
    raise ValueError(f"refusal_classifier: {classifier!r} is not one of {REFUSAL_CLASSIFIERS}")


def task_prompts(bench: TaskBenchmark, tokenizer, protocol: EvalProtocol) -> tuple[pd.DataFrame, list[str]]:
    """The benchmark's items and their rendered prompts (chat, no system prompt, no added instruction)."""
    from r1.prompts import render_prompt

    tasks = bench.load()
    texts = tasks["problem"] if "problem" in tasks.columns else tasks["prompt"]
    style, prefill = protocol.prompt_style, protocol.prefill
    return tasks, [render_prompt(tokenizer, t, style, instruction=None, prefill=prefill) for t in texts]


def sampling_params(protocol: EvalProtocol):
    from r1.generation import SamplingParams

    return SamplingParams(
        n=protocol.k,
        temperature=protocol.temperature,
        top_p=protocol.top_p,
        max_new_tokens=protocol.max_new_tokens,
        seed=protocol.seed,
    )


class PregeneratedSamples:
    """A generator that answers from samples generated beforehand in one call (one batch run for every
    task benchmark of a checkpoint, instead of one per benchmark)."""

    def __init__(self, generator, prompts: list[str], protocol: EvalProtocol, desc: str = "eval"):
        self.tokenizer = generator.tokenizer
        unique = list(dict.fromkeys(prompts))
        outs = generator.generate(unique, sampling_params(protocol), desc=desc) if unique else []
        self._by_prompt = dict(zip(unique, outs, strict=True))

    def generate(self, prompts, params, desc=""):
        return [self._by_prompt[p] for p in prompts]


def evaluate_task(
    model_dir: str,
    bench: TaskBenchmark,
    protocol: EvalProtocol,
    model_name: str,
    *,
    generator=None,
    generator_options: dict | None = None,
    sandbox=None,
    judge=None,
    refusal_classifier: str = "strmatch",
) -> tuple[pd.DataFrame, dict]:
    """Sample k answers per item, score them by the benchmark's kind; return (per-sample records, summary)."""
    from r1.generation import load_generator

    t0 = time.time()
    if generator is None:
        options = dict(generator_options or {})
        generator = load_generator(
            model_dir, options.pop("backend", "transformers"), resumable=True, **options
        )
    tasks, prompts = task_prompts(bench, generator.tokenizer, protocol)
    outputs = generator.generate(prompts, sampling_params(protocol), desc=f"eval {model_name}/{bench.name}")
    k = protocol.k
    rows = []
    for (_, task), prompt, samples in zip(tasks.iterrows(), prompts, outputs, strict=True):
        for j, s in enumerate(samples):
            rows.append(
                {
                    "model": model_name,
                    "benchmark": bench.name,
                    "kind": bench.kind,
                    "problem_id": task["id"],
                    "sample_idx": j,
                    "prompt": prompt,
                    "completion": protocol.prefill + s.text,
                    "n_tokens": int(s.n_tokens),
                    "truncated": bool(s.truncated),
                }
            )
    df = pd.DataFrame(rows)
    completions = df["completion"].tolist()
    expanded = tasks.loc[tasks.index.repeat(k)].reset_index(drop=True)
    summary = {"kind": bench.kind}
    if bench.kind == "code":
        if sandbox is None:
            raise ValueError(f"benchmark {bench.name!r}: code evaluation needs a sandbox")
        scored = pd.DataFrame(score_code(completions, expanded, sandbox))
        df = pd.concat([df, scored], axis=1)
        summary.update(summarize(df.drop(columns=["extracted"]), pass_ks=protocol.pass_ks))
        summary["sandbox_status"] = df["extracted"].value_counts().to_dict()
    elif bench.kind == "choice":
        letters = [extract_choice(c, int(n)) for c, n in zip(completions, expanded["n_choices"], strict=True)]
        answers = expanded["answer"].tolist()
        df["extracted"] = pd.Series(letters, dtype=object)
        df["answer"] = answers
        df["correct"] = [e is not None and e == a for e, a in zip(letters, answers, strict=True)]
        df["cluster_id"] = pd.Series([None if e is None else LETTERS.index(e) for e in letters], dtype=object)
        summary.update(summarize(df, pass_ks=protocol.pass_ks))
        summary["extraction_rate"] = sum(e is not None for e in letters) / len(letters)
    elif bench.kind in ("refusal", "over_refusal"):
        questions = expanded["prompt"].tolist()
        df["refused"] = refusals(questions, completions, refusal_classifier, judge)
        summary.update(_basic(df))
        summary.update(_rate(df, "refused", "refusal_rate", int(summary["k"])))
        summary["refusal_classifier"] = refusal_classifier
    else:  # judged
        if judge is None:
            raise ValueError(f"benchmark {bench.name!r}: kind 'judged' needs a judge (config `judge`)")
        df["judge_score"] = judge.rate("helpfulness", expanded["prompt"].tolist(), completions)
        summary.update(_basic(df))
        summary.update(_rate(df, "judge_score", "judge_score", int(summary["k"])))
        summary["n_judge_failures"] = int(df["judge_score"].isna().sum())
    summary.update(
        {
            "model": model_name,
            "benchmark": bench.name,
            "benchmark_spec": asdict(bench),
            "model_dir": str(model_dir),
            "chat_template_sha256": chat_template_sha256(generator.tokenizer),
            "example_prompt": prompts[0],
            "eval_seconds": round(time.time() - t0, 3),
        }
    )
    for key, value in protocol.to_dict().items():
        summary.setdefault(key, value)
    log.info(
        "eval %s x %s (%s): %s", model_name, bench.name, bench.kind, {k: summary.get(k) for k in _HEADLINE}
    )
    return df, summary


_HEADLINE = ("pass@1", "refusal_rate", "judge_score", "n_problems", "k")


def _rate(df: pd.DataFrame, column: str, name: str, k: int) -> dict:
    """The mean of a per-sample value in [0, 1] and its 95% CI over prompts (the independent unit)."""
    from r1.eval.metrics import pass1_ci95

    values = df[["problem_id", column]].dropna()
    if values.empty:
        return {name: None, f"{name}_ci95_lo": None, f"{name}_ci95_hi": None}
    per_prompt = values.groupby("problem_id", sort=False)[column].apply(
        lambda v: float(v.astype(float).mean())
    )
    lo, hi = pass1_ci95(per_prompt.tolist(), k)
    return {name: float(per_prompt.mean()), f"{name}_ci95_lo": lo, f"{name}_ci95_hi": hi}


def _basic(df: pd.DataFrame) -> dict:
    tokens = pd.to_numeric(df["n_tokens"])
    return {
        "n_problems": int(df["problem_id"].nunique()),
        "n_samples": len(df),
        "k": int(df.groupby("problem_id").size().iloc[0]),
        "mean_length": float(tokens.mean()),
        "median_length": float(tokens.median()),
        "truncation_rate": float(df["truncated"].mean()),
    }
