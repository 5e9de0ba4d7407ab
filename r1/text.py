"""Text checks on model output: the think format, language consistency, repetition, readability, length.

Used by the GRPO rewards (r1.rewards), the quality filters of generated data (r1.filters) and the eval
records.
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def message_text(item) -> str:
    """A completion or prompt as text: a string, or the last message's content (conversational)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        content = item.get("content")
        return content if isinstance(content, str) else ""
    if isinstance(item, (list, tuple)) and item:
        return message_text(item[-1])
    return ""


def prompt_is_prefilled(prompt) -> bool:
    """Does the prompt end inside an opened think block (`...<think>` or `...<think>\\n`)?"""
    text = message_text(prompt).rstrip()
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


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|[。！？]|\n")
_PARAGRAPH_SPLIT = re.compile(r"\n\s*\n")


def _ramp(n: int, good: int, bad: int) -> float:
    """1 up to `good`, falling linearly to 0 at `bad`."""
    return 1.0 if n <= good else max(0.0, 1.0 - (n - good) / (bad - good))


def readability(text: str) -> float:
    """Readability in [0, 1] for the second RL stage: the mean of three scores.

    - sentences: each sentence (split at . ! ? 。！？ and newlines) scores 1 up to 30 words, falling
      linearly to 0 at 80 words; averaged weighted by word count (run-on text scores low).
    - paragraphs: each paragraph (split at blank lines) scores 1 up to 150 words, falling to 0 at 400;
      averaged weighted by word count (walls of text score low).
    - repetition: 1 - 2 x repetition_ratio(text, 3), clipped to [0, 1].
    Words are `_tokens` (CJK characters count one each). Empty text scores 0.
    """
    tokens = _tokens(text or "")
    if not tokens:
        return 0.0

    def weighted(parts: list[str], good: int, bad: int) -> float:
        counts = [len(_tokens(p)) for p in parts]
        total = sum(counts)
        return sum(n * _ramp(n, good, bad) for n in counts) / total if total else 0.0

    s_sentence = weighted(_SENTENCE_SPLIT.split(text), 30, 80)
    s_paragraph = weighted(_PARAGRAPH_SPLIT.split(text), 150, 400)
    s_repetition = min(1.0, max(0.0, 1.0 - 2.0 * repetition_ratio(text, 3)))
    return (s_sentence + s_paragraph + s_repetition) / 3.0


def soft_overlong_penalty(length: int, max_completion_length: int, soft_cache_length: int) -> float:
    """DAPO soft overlong punishment: 0 up to L_max - L_cache, linear to -1 at L_max, -1 beyond."""
    expected = max_completion_length - soft_cache_length
    if length <= expected:
        return 0.0
    if length <= max_completion_length:
        return (expected - length) / soft_cache_length
    return -1.0
