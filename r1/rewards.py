"""Reward registry (name -> factory) for GRPO; the text checks behind the rewards are in r1.text.

Each factory takes options from config and returns a TRL-compatible reward function
`f(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs) -> list[float |
None]` whose `__name__` is the registry name, so TRL logs `rewards/<name>/mean`. None means "not applicable"
(TRL treats it as NaN), used for a sample whose reference answer is unusable.

    rewards:
      - {name: accuracy, weight: 1.0, mode: lenient}
      - {name: format, weight: 0.5}
      - {name: language_consistency, weight: 0.1, default_language: en}
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

from r1.grading import DEFAULT_CHAIN, DEFAULT_MODE, DEFAULT_TIMEOUT_S, check_chain, grade_batch
from r1.task_rewards import code_reward, harmlessness_reward, helpfulness_reward
from r1.text import (
    has_think_format,
    language_consistency,
    message_text,
    prompt_is_prefilled,
    readability,
    repetition_ratio,
    soft_overlong_penalty,
    split_think,
)

RewardFn = Callable[..., list[float | None]]


# ---------------------------------------------------------------- reward factories
def _texts(completions) -> list[str]:
    return [message_text(c) for c in completions]


def _prefills(prompts, n: int, prefilled: bool | None) -> list[bool]:
    if prefilled is not None:
        return [bool(prefilled)] * n
    if prompts is None:
        return [False] * n
    return [prompt_is_prefilled(p) for p in prompts]


def accuracy_reward(
    mode: str = DEFAULT_MODE,
    chain: Sequence[str] = DEFAULT_CHAIN,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    after_think: bool = False,
    prefilled: bool | None = None,
) -> RewardFn:
    """1.0 if the extracted answer is equivalent to the `answer` column (grade_batch), else 0.0;
    None when the reference is unusable. `after_think=True` grades only the summary after `</think>`
    (0 when there is no closed think block). Under TRL it also logs the extracted answers (completions
    table column `extracted_answer`) and the fraction of timed-out items (`accuracy/timeout_frac`)."""
    try:
        chain = check_chain(mode, chain)
    except ValueError as e:
        raise ValueError(f"accuracy: {e}") from None

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        golds = answer if answer is not None else kwargs.get("solution")
        if golds is None:
            raise ValueError("accuracy reward: the dataset has no 'answer' column")
        texts = _texts(completions)
        if after_think:
            flags = _prefills(prompts, len(texts), prefilled)
            texts = [
                split_think(t, p)[1] if split_think(t, p)[0] is not None else ""
                for t, p in zip(texts, flags, strict=True)
            ]
        golds = ["" if g is None else str(g) for g in golds]
        results = grade_batch(texts, golds, mode=mode, chain=chain, timeout_s=timeout_s)
        log_extra, log_metric = kwargs.get("log_extra"), kwargs.get("log_metric")
        if callable(log_extra):  # TRL's completions table
            log_extra("extracted_answer", [r.extracted for r in results])
        if callable(log_metric) and results:
            log_metric("accuracy/timeout_frac", sum(r.timed_out for r in results) / len(results))
        return [None if r.correct is None else float(r.correct) for r in results]

    return reward


def format_reward(require_answer_tag: bool = False, prefilled: bool | None = None) -> RewardFn:
    """1.0 for `<think>` reasoning `</think>` + non-empty answer, else 0.0. A prompt ending in `<think>`
    (auto-detected, or forced with `prefilled`) means the completion starts inside the think block."""

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        texts = _texts(completions)
        flags = _prefills(prompts, len(texts), prefilled)
        return [float(has_think_format(t, p, require_answer_tag)) for t, p in zip(texts, flags, strict=True)]

    return reward


def language_consistency_reward(default_language: str = "en") -> RewardFn:
    """Fraction of CoT words in the row's `language` (ISO code), else `default_language`."""

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        texts = _texts(completions)
        langs = language if language is not None else [default_language] * len(texts)
        return [
            language_consistency(t, lang or default_language) for t, lang in zip(texts, langs, strict=True)
        ]

    return reward


def repetition_reward(ngram_size: int = 3, max_penalty: float = -1.0) -> RewardFn:
    """repetition_ratio x max_penalty, in [max_penalty, 0] (open-r1 get_repetition_penalty_reward)."""
    if max_penalty > 0:
        raise ValueError(f"repetition: max_penalty must be <= 0, got {max_penalty}")
    if ngram_size < 1:
        raise ValueError(f"repetition: ngram_size must be >= 1, got {ngram_size}")

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        return [
            repetition_ratio(t, ngram_size) * max_penalty if max_penalty else 0.0 for t in _texts(completions)
        ]

    return reward


def overlong_reward(
    max_completion_length: int = 512, soft_cache_length: int = 128, chars_per_token: float = 4.0
) -> RewardFn:
    """DAPO soft overlong punishment in [-1, 0] from the completion length in tokens
    (len(completion_ids[i]); without ids, len(text) / chars_per_token)."""
    if not 0 < soft_cache_length <= max_completion_length:
        raise ValueError(
            f"overlong: need 0 < soft_cache_length <= max_completion_length, got {soft_cache_length}, "
            f"{max_completion_length}"
        )

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        if completion_ids is not None:
            lengths = [len(ids) for ids in completion_ids]
        else:
            lengths = [math.ceil(len(t) / chars_per_token) for t in _texts(completions)]
        return [soft_overlong_penalty(n, max_completion_length, soft_cache_length) for n in lengths]

    return reward


def readability_reward() -> RewardFn:
    """`readability(text)` of the whole completion, in [0, 1]."""

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        return [readability(t) for t in _texts(completions)]

    return reward


def random_reward(p: float = 0.5, seed: int = 0) -> RewardFn:
    """The control arm of the learning experiments ("spurious rewards", Shao et al. 2025): 1.0 with
    probability `p`, independent of the completion. Seeded: the same run gets the same reward stream."""
    import random

    if not 0.0 <= p <= 1.0:
        raise ValueError(f"random reward: p must be in [0, 1], got {p}")
    rng = random.Random(seed)

    def reward(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs):
        return [float(rng.random() < p) for _ in completions]

    return reward


REWARDS: dict[str, Callable[..., RewardFn]] = {
    "accuracy": accuracy_reward,
    "format": format_reward,
    "language_consistency": language_consistency_reward,
    "repetition": repetition_reward,
    "overlong": overlong_reward,
    "readability": readability_reward,
    "random": random_reward,
    "code": code_reward,  # r1.task_rewards: sandboxed unit tests, and the judge rewards
    "helpfulness": helpfulness_reward,
    "harmlessness": harmlessness_reward,
}


def build_reward_funcs(specs: list[dict]) -> tuple[list[RewardFn], list[float]]:
    """Reward functions and weights from config specs `{"name": ..., "weight": 1.0, **options}`."""
    funcs, weights, seen = [], [], {}
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError(f"reward spec #{i} must be a mapping with a 'name', got {spec!r}")
        options = dict(spec)
        name = options.pop("name")
        weight = float(options.pop("weight", 1.0))
        if name not in REWARDS:
            raise ValueError(f"unknown reward {name!r}; known rewards: {sorted(REWARDS)}")
        factory = REWARDS[name]
        accepted = list(inspect.signature(factory).parameters)
        bad = [k for k in options if k not in accepted]
        if bad:
            raise ValueError(f"reward {name!r}: unknown option(s) {bad}; accepted: {accepted}")
        fn = factory(**options)
        seen[name] = seen.get(name, 0) + 1
        fn.__name__ = fn.__qualname__ = name if seen[name] == 1 else f"{name}_{seen[name]}"
        funcs.append(fn)
        weights.append(weight)
    return funcs, weights
