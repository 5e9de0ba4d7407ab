"""Rewards for prompts beyond math, registered in r1.rewards.REWARDS: `code` (the sandbox runs the
completion's code against the row's tests) and `helpfulness` / `harmlessness` (the judge rates the response).

Same contract as the other rewards: TRL passes the dataset's columns as keyword arguments, and a reward
returns None for a row it does not apply to, so one GRPO stage can mix math, code and open-ended prompts
(accuracy applies where there is an `answer`, code where there are `tests`, the judge where there is neither).

    rewards:
      - {name: code, weight: 1.0}                 # 1 if every test passes (partial: the fraction passed)
      - {name: helpfulness, weight: 1.0}          # the paper: on the summary (after </think>)
      - {name: harmlessness, weight: 1.0}         # the paper: on the whole response
The sandbox limits come from config `sandbox`, the judge from config `judge`; the RL stage passes both.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

TARGETS = ("open", "all")
PARTS = ("answer", "all")


def _text(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return item.get("content") if isinstance(item.get("content"), str) else ""
    if isinstance(item, (list, tuple)) and item:
        return _text(item[-1])
    return ""


def _column(values, n: int) -> list:
    return list(values) if values is not None else [None] * n


def _has(value) -> bool:
    """A non-empty reference (answer text or tests list)."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    try:
        return len(value) > 0
    except TypeError:
        return True


def code_reward(sandbox: dict | None = None, partial: bool = False):
    """1.0 when the last ```python block of the answer passes every test of the row, else 0.0 (`partial`: the
    fraction of tests passed); None for rows without tests. Runs in r1.sandbox with config `sandbox`'s
    limits."""
    from r1.sandbox import Job, extract_code, program_for, shared_sandbox
    from r1.sandbox.client import sandbox_settings

    limits, workers, require = sandbox_settings(sandbox)

    def reward(completions, prompts=None, tests=None, prefix=None, entry_point=None, **kwargs):
        n = len(completions)
        tests, prefix, entry = _column(tests, n), _column(prefix, n), _column(entry_point, n)
        out: list[float | None] = [None] * n
        jobs, where = [], []
        for i, text in enumerate(completions):
            if not _has(tests[i]):
                continue
            out[i] = 0.0
            code = extract_code(_text(text))
            if code is not None:
                jobs.append(Job(program_for(code, prefix[i] or "", entry[i] or None), list(tests[i])))
                where.append(i)
        results = shared_sandbox(limits, workers, require).run(jobs) if jobs else []
        for i, r in zip(where, results, strict=True):
            out[i] = (
                (r.n_passed / r.n_tests if r.n_tests else 0.0)
                if partial and not r.passed
                else float(r.passed)
            )
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and any(_has(t) for t in tests):
            graded = [o for o in out if o is not None]
            log_metric("code/no_code_frac", (len(graded) - len(jobs)) / len(graded))
            if results:
                log_metric("code/timeout_frac", sum(r.status == "timeout" for r in results) / len(results))
        return out

    return reward


def _judge_reward(rubric: str, judge: dict | None, applies_to: str, on: str):
    """The judge comes from the RL stage (the config's `judge` section); built without one (the config check
    at DAG load builds every reward), the reward refuses to score."""
    if applies_to not in TARGETS:
        raise ValueError(f"reward {rubric!r}: applies_to must be one of {TARGETS}, got {applies_to!r}")
    if on not in PARTS:
        raise ValueError(f"reward {rubric!r}: on must be one of {PARTS}, got {on!r}")
    from r1.judge import JudgeConfig, shared_judge
    from r1.judge.rubrics import answer_part

    cfg = JudgeConfig.from_config(judge) if judge is not None else None

    def reward(completions, prompts=None, answer=None, tests=None, **kwargs):
        if cfg is None:
            raise ValueError(f"reward {rubric!r} needs a judge: the RL stage passes the config's `judge`")
        n = len(completions)
        answers, tests_ = _column(answer, n), _column(tests, n)
        rows = [i for i in range(n) if applies_to == "all" or not (_has(answers[i]) or _has(tests_[i]))]
        out: list[float | None] = [None] * n
        if not rows:
            return out
        prompts_ = _column(prompts, n)
        questions = [_text(prompts_[i]) for i in rows]
        texts = [_text(completions[i]) for i in rows]
        if on == "answer":
            texts = [answer_part(t) for t in texts]
        for i, score in zip(rows, shared_judge(cfg).rate(rubric, questions, texts), strict=True):
            out[i] = score
        return out

    return reward


def helpfulness_reward(judge: dict | None = None, applies_to: str = "open", on: str = "answer"):
    """The judge's helpfulness rating in [0, 1] of the summary (text after </think>), as the paper's
    helpfulness reward model; for rows without a reference answer or tests (`applies_to: all` for every row).
    None where the judge failed."""
    return _judge_reward("helpfulness", judge, applies_to, on)


def harmlessness_reward(judge: dict | None = None, applies_to: str = "open", on: str = "all"):
    """The judge's harmlessness rating in [0, 1] of the whole response (reasoning and summary, as the
    paper)."""
    return _judge_reward("harmlessness", judge, applies_to, on)
