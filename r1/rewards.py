"""Reward registry (name -> factory) for GRPO, plus the plain text checks used by the data filters.

Each factory takes options from config and returns a TRL-compatible reward function
`f(completions, prompts=None, answer=None, language=None, completion_ids=None, **kwargs) -> list[float | None]`
whose `__name__` is the registry name, so TRL logs `rewards/<name>/mean`. None means "not applicable"
(TRL treats it as NaN), used for a sample whose reference answer is unusable.

    rewards:
      - {name: accuracy, weight: 1.0, mode: lenient}
      - {name: format, weight: 0.5}
      - {name: language_consistency, weight: 0.1, default_language: en}
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Sequence

from r1.grading import DEFAULT_CHAIN, MODES, grade_batch
from r1.grading.extract import EXTRACTORS

RewardFn = Callable[..., list[float | None]]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


# ---------------------------------------------------------------- text helpers
def _text(item) -> str:
    """A completion or prompt as text: a string, or the last message's content (conversational)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        content = item.get("content")
        return content if isinstance(content, str) else ""
    if isinstance(item, (list, tuple)) and item:
        return _text(item[-1])
    return ""


def prompt_is_prefilled(prompt) -> bool:
    """Does the prompt end inside an opened think block (`...<think>` or `...<think>\\n`)?"""
    text = _text(prompt).rstrip()
    return text.endswith(THINK_OPEN)


def split_think(text: str, prefilled: bool = False) -> tuple[str | None, str]:
    """(reasoning, summary) of `<think>reasoning</think>summary`; (None, text) when there is no valid block.

    `prefilled=True`: the prompt already ended with `<think>`, so the text starts inside the block (a
    repeated leading `<think>` is tolerated). Exactly one `</think>` and no nested `<think>` are allowed.
    """
    if not isinstance(text, str):
        return None, ""
    body = text.lstrip()
    if body.startswith(THINK_OPEN):
        body = body[len(THINK_OPEN) :]
    elif not prefilled:
        return None, text
    if body.count(THINK_CLOSE) != 1 or THINK_OPEN in body:
        return None, text
    reasoning, summary = body.split(THINK_CLOSE, 1)
    return reasoning.strip(), summary.strip()


def has_think_format(text: str, prefilled: bool = False, require_answer_tag: bool = False) -> bool:
    """`<think>` non-empty reasoning `</think>` then a non-empty answer (in `<answer>` tags if required)."""
    reasoning, summary = split_think(text, prefilled)
    if not reasoning or not summary:
        return False
    if require_answer_tag:
        close = summary.rfind("</answer>")
        open_ = summary.rfind("<answer>", 0, close) if close >= 0 else -1
        return open_ >= 0 and bool(summary[open_ + len("<answer>") : close].strip())
    return True


def _cot(text: str) -> str:
    """The chain of thought: inside the think block if there is one (even unclosed), else the whole text."""
    if THINK_CLOSE in text:
        cot = text.split(THINK_CLOSE, 1)[0]
        return cot.split(THINK_OPEN, 1)[1] if THINK_OPEN in cot else cot
    if THINK_OPEN in text:
        return text.split(THINK_OPEN, 1)[1]
    return text


# Scripts: each CJK/kana/hangul character is one word (those scripts have no spaces); other words are runs.
_SCRIPTS = [
    ("han", "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"),
    ("kana", "\u3040-\u309f\u30a0-\u30ff"),
    ("hangul", "\uac00-\ud7af\u1100-\u11ff"),
    ("latin", "A-Za-z\u00c0-\u024f"),
    ("cyrillic", "\u0400-\u04ff"),
    ("greek", "\u0370-\u03ff"),
    ("arabic", "\u0600-\u06ff"),
    ("hebrew", "\u0590-\u05ff"),
    ("devanagari", "\u0900-\u097f"),
    ("thai", "\u0e00-\u0e7f"),
]
_SINGLE_CHAR = {"han", "kana", "hangul", "thai"}
_WORD = re.compile(
    "|".join(f"(?P<{name}>[{chars}]{'' if name in _SINGLE_CHAR else '+'})" for name, chars in _SCRIPTS)
)
_MATH_DELIM = re.compile(r"(\$\$|\$|\\\(|\\\)|\\\[|\\\])")
_MATH_CLOSER = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_LATEX_CMD = re.compile(r"\\[a-zA-Z]+")
_LANG_SCRIPTS = {
    "zh": {"han"},
    "ja": {"han", "kana"},
    "ko": {"hangul", "han"},
    "ru": {"cyrillic"},
    "uk": {"cyrillic"},
    "bg": {"cyrillic"},
    "el": {"greek"},
    "ar": {"arabic"},
    "fa": {"arabic"},
    "he": {"hebrew"},
    "hi": {"devanagari"},
    "th": {"thai"},
}


def _scripts_for(language: str) -> set[str]:
    """Scripts accepted for an ISO code ("zh-CN" -> zh); other codes are Latin-script languages."""
    code = (language or "en").strip().lower().replace("_", "-").split("-", 1)[0]
    return _LANG_SCRIPTS.get(code, {"latin"})


def _strip_math(text: str) -> str:
    """Text outside `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]` (one linear pass; an unclosed span is kept)."""
    out, math_part, closer = [], [], None
    for i, piece in enumerate(_MATH_DELIM.split(text)):
        is_delim = i % 2 == 1
        if closer is None:
            if is_delim and piece in _MATH_CLOSER:
                closer, math_part = _MATH_CLOSER[piece], [piece]
            else:
                out.append(piece)
        elif is_delim and piece == closer:
            closer, math_part = None, []
            out.append(" ")
        else:
            math_part.append(piece)
    if closer is not None:
        out.extend(math_part)
    return _LATEX_CMD.sub(" ", "".join(out))


def _words(text: str) -> list[tuple[str, str]]:
    """(script, word) pairs outside LaTeX; single Latin letters (math variables) are ignored."""
    text = _strip_math(text)
    out = []
    for m in _WORD.finditer(text):
        script = m.lastgroup
        word = m.group()
        if script == "latin" and len(word) == 1:
            continue
        out.append((script, word))
    return out


def language_consistency(text: str, language: str = "en") -> float:
    """Fraction of chain-of-thought words in the target language's script (R1 paper, section 2.3.3).

    The CoT is the think block (or the whole text if there is none); LaTeX and single-letter variables
    are not words; each CJK character is a word; Latin-script words count for "en" and other Latin
    languages. A CoT without any words scores 1.0.
    """
    words = _words(_cot(text or ""))
    if not words:
        return 1.0
    wanted = _scripts_for(language)
    return sum(script in wanted for script, _ in words) / len(words)


_CJK = "".join(chars for name, chars in _SCRIPTS if name in _SINGLE_CHAR)
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def _tokens(text: str) -> list[str]:
    """Lower-cased tokens for n-grams: CJK characters one by one, other text split on whitespace."""
    return _TOKEN.findall(text.lower())


def repetition_ratio(text: str, ngram_size: int = 3) -> float:
    """Fraction of repeated n-grams, 1 - unique/total (0 = none), as in open-r1's repetition penalty."""
    if ngram_size < 1:
        raise ValueError(f"ngram_size must be >= 1, got {ngram_size}")
    tokens = _tokens(text or "")
    if len(tokens) < ngram_size:
        return 0.0
    ngrams = [tuple(tokens[i : i + ngram_size]) for i in range(len(tokens) - ngram_size + 1)]
    return 1.0 - len(set(ngrams)) / len(ngrams)


def readability(text: str, language: str = "en") -> float:
    """Readability in [0, 1] (r1/readability.py: sentence length, function words, paragraphs, repetition)."""
    from r1.readability import readability as score

    return score(text, language)


def soft_overlong_penalty(length: int, max_completion_length: int, soft_cache_length: int) -> float:
    """DAPO soft overlong punishment: 0 up to L_max - L_cache, linear to -1 at L_max, -1 beyond."""
    expected = max_completion_length - soft_cache_length
    if length <= expected:
        return 0.0
    if length <= max_completion_length:
        return (expected - length) / soft_cache_length
    return -1.0


# ---------------------------------------------------------------- reward factories
def _texts(completions) -> list[str]:
    return [_text(c) for c in completions]


def _prefills(prompts, n: int, prefilled: bool | None) -> list[bool]:
    if prefilled is not None:
        return [bool(prefilled)] * n
    if prompts is None:
        return [False] * n
    return [prompt_is_prefilled(p) for p in prompts]


def accuracy_reward(
    mode: str = "lenient",
    chain: Sequence[str] = DEFAULT_CHAIN,
    timeout_s: float = 2.0,
    after_think: bool = False,
    prefilled: bool | None = None,
) -> RewardFn:
    """1.0 if the extracted answer is equivalent to the `answer` column (grade_batch), else 0.0;
    None when the reference is unusable. `after_think=True` grades only the summary after `</think>`
    (0 when there is no closed think block). Under TRL it also logs the extracted answers (completions
    table column `extracted_answer`) and the fraction of timed-out items (`accuracy/timeout_frac`)."""
    if mode not in MODES:
        raise ValueError(f"accuracy: unknown mode {mode!r}; known: {list(MODES)}")
    chain = (chain,) if isinstance(chain, str) else tuple(chain)
    unknown = [c for c in chain if c not in EXTRACTORS]
    if unknown:
        raise ValueError(f"accuracy: unknown extractor(s) {unknown}; known: {sorted(EXTRACTORS)}")

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
