"""Evaluate one model on one benchmark under the paper's protocol: sample k, grade, summarise.

Paper protocol (r1-recipe.md, "Evaluation protocol"): no greedy decoding; k samples per problem at
temperature 0.6, top-p 0.95, up to 32,768 new tokens; no system prompt; math instruction "Please reason step
by step, and put your final answer within \\boxed{}."; optionally the response is forced to start with
"<think>\\n" (prefill).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass

import pandas as pd

from r1.eval.metrics import summarize
from r1.grading.normalize import DEFAULT_MODE, DEFAULT_TIMEOUT_S
from r1.prompts import MATH_INSTRUCTION, render_prompt

log = logging.getLogger(__name__)

THINK_PREFILL = "<think>\n"

SAMPLE_COLUMNS = (
    "model",
    "benchmark",
    "problem_id",
    "sample_idx",
    "prompt",
    "completion",
    "extracted",
    "answer",
    "correct",
    "timed_out",
    "n_tokens",
    "truncated",
    "format_ok",
    "language_consistency",
    "cluster_id",
)


@dataclass(frozen=True)
class EvalProtocol:
    k: int = 16
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    prompt_style: str = "chat"
    instruction: str | None = MATH_INSTRUCTION
    prefill: str = ""
    seed: int = 0
    pass_ks: tuple[int, ...] = (1,)
    grader_mode: str = DEFAULT_MODE
    grader_timeout_s: float = DEFAULT_TIMEOUT_S  # hard per-sample timeout (a timed-out sample counts wrong)

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"EvalProtocol.k must be >= 1 (got {self.k})")
        if self.max_new_tokens < 1:
            raise ValueError(f"EvalProtocol.max_new_tokens must be >= 1 (got {self.max_new_tokens})")
        object.__setattr__(self, "pass_ks", tuple(int(x) for x in self.pass_ks))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pass_ks"] = list(self.pass_ks)
        return d


def chat_template_sha256(tokenizer) -> str | None:
    """sha256 of the tokenizer's chat template text (None when it has none), so results name the template."""
    template = getattr(tokenizer, "chat_template", None)
    if template is None:
        return None
    if isinstance(template, dict):  # named templates
        template = "\n".join(f"{k}\n{v}" for k, v in sorted(template.items()))
    return hashlib.sha256(str(template).encode("utf-8")).hexdigest()


def prefill_opens_think(prefill: str) -> bool:
    """True when the prompt's prefill leaves the completion inside an open <think> block."""
    p = prefill.rstrip()
    return p.endswith("<think>") or (p.rfind("<think>") > p.rfind("</think>"))


def check_format(completion: str, prefill: str) -> bool:
    """Think-format check on what the model produced, respecting the prefill.

    With a "<think>\\n" prefill the completion starts inside the think block, so the opening tag is not
    expected in it (a naive check would always fail). Any other prefill is prepended before checking.
    """
    from r1.text import has_think_format

    if prefill_opens_think(prefill):
        return bool(has_think_format(completion, prefilled=True))
    return bool(has_think_format(prefill + completion, prefilled=False))


def evaluate(
    model_dir: str,
    benchmark_df: pd.DataFrame,
    protocol: EvalProtocol,
    model_name: str,
    benchmark_name: str,
    generator=None,
    generator_options: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Sample `protocol.k` completions per problem, grade them, and return (per-sample records, summary).

    `generator` (anything with `.tokenizer` and `.generate(prompts, SamplingParams)`) is built from
    `model_dir` with `r1.generation.load_generator` when not given; `generator_options` may hold `backend`
    plus the backend's options (dtype, device, batch_size, ...).
    """
    from r1.generation import SamplingParams, load_generator
    from r1.grading import cluster_answers, grade_batch
    from r1.text import language_consistency

    for col in ("id", "problem", "answer"):
        if col not in benchmark_df.columns:
            raise ValueError(f"evaluate: benchmark frame lacks column {col!r} (use r1.eval.load_benchmark)")
    if benchmark_df.empty:
        raise ValueError(f"evaluate: benchmark {benchmark_name!r} has no problems")
    options = dict(generator_options or {})
    backend = options.pop("backend", "transformers")
    t0 = time.time()
    if generator is None:
        generator = load_generator(model_dir, backend=backend, resumable=True, **options)
    backend = getattr(generator, "backend", backend)
    tokenizer = generator.tokenizer

    problems = benchmark_df["problem"].tolist()
    golds = [str(a) for a in benchmark_df["answer"]]
    ids = [str(i) for i in benchmark_df["id"]]
    prompts = [
        render_prompt(
            tokenizer,
            p,
            style=protocol.prompt_style,
            instruction=protocol.instruction,
            prefill=protocol.prefill,
        )
        for p in problems
    ]
    params = SamplingParams(
        n=protocol.k,
        temperature=protocol.temperature,
        top_p=protocol.top_p,
        max_new_tokens=protocol.max_new_tokens,
        seed=protocol.seed,
    )
    log.info(
        "eval %s on %s: %d problems x k=%d (max_new_tokens=%d, backend=%s)",
        model_name,
        benchmark_name,
        len(prompts),
        protocol.k,
        protocol.max_new_tokens,
        backend,
    )
    t_gen = time.time()
    outputs = generator.generate(prompts, params, desc=f"eval {model_name}/{benchmark_name}")
    gen_seconds = time.time() - t_gen
    if len(outputs) != len(prompts) or any(len(o) != protocol.k for o in outputs):
        raise RuntimeError(
            f"generator returned {[len(o) for o in outputs]} samples for {len(prompts)} "
            f"prompts; expected {protocol.k} each"
        )

    completions = [s.text for out in outputs for s in out]
    flat_golds = [g for g in golds for _ in range(protocol.k)]
    grades = grade_batch(
        completions,
        flat_golds,
        mode=protocol.grader_mode,
        timeout_s=protocol.grader_timeout_s,
        desc=f"grade {model_name}/{benchmark_name}",
    )

    records = []
    for i, out in enumerate(outputs):
        problem_grades = grades[i * protocol.k : (i + 1) * protocol.k]
        clusters = cluster_answers(
            [g.extracted for g in problem_grades],
            mode=protocol.grader_mode,
            timeout_s=protocol.grader_timeout_s,
        )
        for j, (sample, grade, cid) in enumerate(zip(out, problem_grades, clusters, strict=True)):
            records.append(
                {
                    "model": model_name,
                    "benchmark": benchmark_name,
                    "problem_id": ids[i],
                    "sample_idx": j,
                    "prompt": prompts[i],
                    "completion": sample.text,
                    "extracted": grade.extracted,
                    "answer": golds[i],
                    "correct": grade.correct,
                    "timed_out": bool(grade.timed_out),
                    "n_tokens": int(sample.n_tokens),
                    "truncated": bool(sample.truncated),
                    "format_ok": check_format(sample.text, protocol.prefill),
                    "language_consistency": float(language_consistency(sample.text)),
                    "cluster_id": cid,
                }
            )
    samples = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    samples["correct"] = samples["correct"].astype("boolean")
    samples["cluster_id"] = samples["cluster_id"].astype("Int64")
    samples["extracted"] = pd.Series([r["extracted"] for r in records], dtype=object)  # None, not NaN

    summary = summarize(samples, pass_ks=protocol.pass_ks, mode=protocol.grader_mode)
    summary.update(
        {
            "model": model_name,
            "benchmark": benchmark_name,
            "model_dir": str(model_dir),
            "backend": backend,
            "chat_template_sha256": chat_template_sha256(tokenizer),
            # the prompt with `{problem}` for the problem: the prompt style, auditable, and no benchmark text
            # (some benchmarks may not be redistributed: MATH-500, docs/data.md)
            "prompt_template": render_prompt(
                tokenizer,
                "{problem}",
                style=protocol.prompt_style,
                instruction=protocol.instruction,
                prefill=protocol.prefill,
            ),
            "generation_seconds": round(gen_seconds, 3),
            "eval_seconds": round(time.time() - t0, 3),
        }
    )
    for key, value in protocol.to_dict().items():
        summary.setdefault(key, value)
    summary["grader_mode"] = protocol.grader_mode
    return samples, summary
