"""Held-out evaluation during training (the guide's "evaluation during training").

Every `every_steps` optimizer steps (and once before the first step) the live policy answers the problems of
each configured held-out benchmark, rendered with the prompt style the stage trains on; the answers are graded
with the stage's grader, and pass@1 over k samples with its 95% confidence interval, the format rate and the
mean length go into the stage's metrics (one row per evaluation, keys `heldout/<benchmark>/<metric>`), the
trainer's log (so TensorBoard / W&B see them) and the report's curves.

TRL's own `eval_strategy` is not used: it computes a loss on an eval dataset, not generation accuracy.

Generation reads the live weights: on CUDA through a StaticCacheDecoder over a private bf16 copy refreshed at
each evaluation (as GRPO rollouts are), on CPU through HF `generate` on the training model in eval mode.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from r1.eval.metrics import pass1_ci95
from r1.grading.normalize import DEFAULT_MODE, DEFAULT_TIMEOUT_S

log = logging.getLogger(__name__)

# A stage's `heldout:` block; benchmarks are names from the config's `benchmarks` list.
DEFAULTS = {
    "benchmarks": [],
    "every_steps": 25,
    "n": 200,
    "k": 1,
    "temperature": 0.0,
    "top_p": 1.0,
    "max_new_tokens": 256,
    "batch_size": 256,
}


@dataclass
class HeldoutSet:
    name: str
    prompts: list[str]
    golds: list[str]


def load_sets(benchmark_specs: list[dict], tokenizer, prompt_style: str, n: int) -> list[HeldoutSet]:
    """The first `n` problems of each held-out benchmark, rendered as the stage's prompts."""
    from r1.benchmarks import BenchmarkSpec, load_benchmark
    from r1.prompts import render_prompt

    sets = []
    for spec in benchmark_specs:
        df = load_benchmark(BenchmarkSpec.from_config(spec, limit=n))
        prompts = [render_prompt(tokenizer, p, style=prompt_style) for p in df["problem"]]
        sets.append(HeldoutSet(spec["name"], prompts, [str(a) for a in df["answer"]]))
    return sets


class LiveGenerator:
    """Sampling from a model that is being trained, without disturbing it."""

    def __init__(self, tokenizer, batch_size: int):
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self._decoder = None

    def generate(
        self,
        model,
        prompts: list[str],
        k: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[tuple[str, int, bool]]:
        import torch

        tok = self.tokenizer
        eos = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        device = next(model.parameters()).device
        jobs = [p for p in prompts for _ in range(k)]
        out: list[tuple[str, int, bool]] = []
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(jobs), self.batch_size):
                texts = jobs[start : start + self.batch_size]
                enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
                torch.manual_seed(seed * 1_000_003 + start)
                new = None
                if device.type == "cuda":
                    from r1.engine import StaticCacheDecoder

                    if self._decoder is None or self._decoder.source is not model:
                        self._decoder = StaticCacheDecoder(model, weights_dtype=torch.bfloat16)
                    new = self._decoder.generate(
                        enc["input_ids"],
                        enc["attention_mask"],
                        max_new_tokens=max_new_tokens,
                        temperature=temperature,
                        top_p=top_p,
                        eos_token_ids=eos,
                        pad_token_id=tok.pad_token_id,
                    )
                    new = None if new is None else new.tolist()
                if new is None:
                    kwargs = dict(max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
                    if temperature > 0:
                        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
                    else:
                        kwargs.update(do_sample=False)
                    with torch.no_grad():
                        ids = model.generate(**enc, **kwargs)
                    new = ids[:, enc["input_ids"].shape[1] :].tolist()
                for ids in new:
                    n_tok = next((i for i, t in enumerate(ids) if t in eos), None)
                    truncated = n_tok is None
                    n_tok = len(ids) if n_tok is None else n_tok
                    out.append((tok.decode(ids[:n_tok], skip_special_tokens=True), n_tok, truncated))
        finally:
            model.train(was_training)
        return out


class HeldoutEvaluator:
    """Evaluate a live model on the held-out sets; returns the metrics row."""

    def __init__(
        self,
        cfg: dict,
        benchmark_specs: list[dict],
        tokenizer,
        prompt_style: str,
        grading: dict,
        seed: int = 0,
    ):
        self.cfg = {**DEFAULTS, **(cfg or {})}
        self.sets = load_sets(benchmark_specs, tokenizer, prompt_style, self.cfg["n"])
        self.grading = grading or {}
        self.seed = seed
        self.prompt_style = prompt_style
        self.gen = LiveGenerator(tokenizer, self.cfg["batch_size"])

    n_examples = 4  # completions kept per set and evaluation (heldout_samples.jsonl): read what it wrote

    def __call__(self, model) -> tuple[dict, list[dict]]:
        from r1.grading import grade_batch
        from r1.text import has_think_format

        c = self.cfg
        row: dict = {}
        examples: list[dict] = []
        for s in self.sets:
            t0 = time.time()
            samples = self.gen.generate(
                model, s.prompts, c["k"], c["temperature"], c["top_p"], c["max_new_tokens"], self.seed
            )
            golds = [g for g in s.golds for _ in range(c["k"])]
            grades = grade_batch(
                [t for t, _, _ in samples],
                golds,
                mode=self.grading.get("mode", DEFAULT_MODE),
                timeout_s=self.grading.get("timeout_s", DEFAULT_TIMEOUT_S),
            )
            k = c["k"]
            per_problem = [
                sum(bool(g.correct) for g in grades[i * k : (i + 1) * k]) / k for i in range(len(s.prompts))
            ]
            lo, hi = pass1_ci95(per_problem, k)
            prefilled = self.prompt_style == "r1_zero"
            key = f"heldout/{s.name}"
            row.update(
                {
                    f"{key}/pass@1": sum(per_problem) / len(per_problem),
                    f"{key}/ci95_lo": lo,
                    f"{key}/ci95_hi": hi,
                    f"{key}/n": len(per_problem),
                    f"{key}/answered": sum(g.extracted is not None for g in grades) / len(grades),
                    f"{key}/format": sum(
                        bool(has_think_format(t, prefilled=prefilled)) for t, _, _ in samples
                    )
                    / len(samples),
                    f"{key}/mean_tokens": sum(n for _, n, _ in samples) / len(samples),
                    f"{key}/truncated": sum(tr for _, _, tr in samples) / len(samples),
                    f"{key}/seconds": time.time() - t0,
                }
            )
            for i in range(min(self.n_examples, len(s.prompts))):
                g = grades[i * k]
                examples.append(
                    {
                        "benchmark": s.name,
                        "problem": i,
                        "answer": s.golds[i],
                        "completion": samples[i * k][0],
                        "extracted": g.extracted,
                        "correct": bool(g.correct),
                    }
                )
        return row, examples


def heldout_callback(evaluator: HeldoutEvaluator, metrics_path: Path, every_steps: int):
    """A TrainerCallback running `evaluator` before the first step and every `every_steps` steps after.

    Rows go to `metrics_path` (one JSON line each, with `step`) and through the trainer's callback handler's
    `on_log`, so every logging integration (TensorBoard, W&B) records them; the trainer's own per-step metrics
    (and GRPO's internal accumulators) are left alone. A resumed run does not redo evaluations at or before
    its checkpoint.
    """
    from transformers import TrainerCallback

    class HeldoutEval(TrainerCallback):
        handler = None

        def _run(self, args, state, control, model):
            if not state.is_world_process_zero or model is None:
                return
            row, examples = evaluator(model)
            line = {"step": state.global_step, **row}
            with open(metrics_path, "a") as f:
                f.write(json.dumps(line) + "\n")
            with open(metrics_path.parent / "heldout_samples.jsonl", "a") as f:
                f.writelines(json.dumps({"step": state.global_step, **e}) + "\n" for e in examples)
            brief = {
                k.split("/", 1)[1]: round(v, 4)
                for k, v in row.items()
                if k.endswith(("pass@1", "_lo", "_hi"))
            }
            log.info("held-out at step %d: %s", state.global_step, brief)
            if self.handler is not None:
                state.log_history.append(line)
                for cb in self.handler.callbacks:
                    if cb is not self and type(cb).__name__ != "MetricsJsonl":
                        cb.on_log(args, state, control, logs=dict(row))

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step == 0:
                self._run(args, state, control, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if every_steps and state.global_step % every_steps == 0 or state.global_step >= state.max_steps:
                self._run(args, state, control, model)

    return HeldoutEval()


def attach(trainer, callback) -> None:
    """Give the callback the trainer's handler (to reach the logging integrations) and register it."""
    callback.handler = trainer.callback_handler
    trainer.add_callback(callback)


def read_curve(metrics_jsonl: str | Path) -> list[dict]:
    """The held-out rows of a stage's metrics file, in step order, one per step.

    A run resumed from its last checkpoint appends again the evaluations of the steps it redoes (a chunk
    stopped after evaluating step 150 but before saving it resumes from 125): the last row of a step is the
    model whose lineage the run continued, so it replaces the earlier ones."""
    rows: dict[int, dict] = {}
    for line in Path(metrics_jsonl).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if any(k.startswith("heldout/") for k in r):
                rows[r["step"]] = r
    return [rows[s] for s in sorted(rows)]
