"""Readability of reasoning text in [0, 1]: the cold-start filter (`filters.min_readability`) and the
`readability` reward of the second RL stage.

R1's cold-start data keep "readable" outputs; R1-Zero's were not (run-on text, loops, fragments, mixed
languages). The score is the product of four parts, each in [0, 1], so one bad part fails the text:

- sentences: each sentence (split at . ! ? 。！？ and newlines) is scored by its words (prose words of two or
  more letters outside LaTeX commands, numbers, and each `$...$` / `\\(...\\)` / `\\[...\\]` math span as one
  word): 0 for one or two words (fragments such as "Cat blue."), 0.25 for three prose words ("We have $x$."
  counts fully), 1 from four to 30, falling
  linearly to 0 at 80 (run-on). Averaged weighted by word count; a sentence without prose words (a displayed
  equation) is neutral.
- function words: in English prose about a third of the words are function words (the, of, to, is, we, so,
  ...); GSM8K's terse solutions have 15-30 %, word lists and "noun verb." fragments almost none. The share
  (smoothed: (k + 1) / (n + 5) for k of n words) gives a part rising linearly from 0 at 3 % to 1 at 12 %.
  Only for English (`language`); 1 for other languages.
- paragraphs: each paragraph (split at blank lines) scores 1 up to 150 words, falling to 0 at 400 (walls of
  text), averaged weighted by word count.
- repetition: 1 while the repeated-trigram ratio (r1.text.repetition_ratio) is at most 0.3, falling
  linearly to 0 at 0.6 (99 % of GSM8K and MATH solutions are below 0.33; "Wait, let me check again." said
  three times is 0.62).

A `<think>reasoning</think>summary` text is scored part by part and gets the lower score (a fixed summary such
as "The answer is 5." must not lift nonsense reasoning); a part without prose words (a bare `\\boxed{5}`) is
skipped. Text with no prose word scores 0. The cold-start threshold was set from the distribution of this
score on human-written solutions (GSM8K train, MATH train): see docs/data.md, "Readability threshold".
"""

from __future__ import annotations

import re

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|[。！？]|\n")
_PARAGRAPH_SPLIT = re.compile(r"\n\s*\n")
_TAGS = re.compile(r"</?(?:think|answer)>")
_PROSE_WORD = re.compile(r"[^\W\d_]{2,}")
# Math spans, found by one linear scan over delimiters (no backtracking regex: the text is untrusted).
# Display environments (\\begin{align} ... \\end{align}) and Asymptote figures ([asy] ... [/asy]) are spans
# too.
# An inline `$...$` stays on one line and holds no run of prose words: GSM8K's `$` is currency ("earns $12 an
# hour ... $10" is not math).
_DELIM = re.compile(
    r"(\$\$|\$|\\\(|\\\)|\\\[|\\\]|\\begin\{[a-z]+\*?\}|\\end\{[a-z]+\*?\}|\[asy\]|\[/asy\]|\n)"
)
_CLOSER = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]", "[asy]": "[/asy]"}
_PROSE_RUN = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}")
_LATEX_CMD = re.compile(r"\\[a-zA-Z]+")
MARK = "\x00"  # one math span in the scanned text
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
FUNCTION_WORDS = frozenset(
    """a an the and or but if so as at by for from in into of on onto to with without about over under than
    then that this these those there here which who whom whose what when where why how is are was were be been
    being am do does did has have had having will would shall should can could may might must not no yes it
    its itself we us our you your he him his she her they them their i me my each every all any some both
    either neither one another other such same only also just very too more most less least many much few
    up down out off again once while because since until after before between among per""".split()
)


def _ramp(n: float, good: float, bad: float) -> float:
    """1 up to `good`, falling linearly to 0 at `bad`."""
    if n <= good:
        return 1.0
    return max(0.0, 1.0 - (n - good) / (bad - good))


def _closer(delim: str) -> str | None:
    if delim.startswith("\\begin{"):
        return "\\end{" + delim[len("\\begin{") :]
    return _CLOSER.get(delim)


def _split_math(text: str) -> str:
    """`text` with every math span replaced by MARK (linear time; an unclosed span stays text)."""
    out: list[str] = []
    span: list[str] = []
    closer = None
    for i, piece in enumerate(_DELIM.split(text)):
        is_delim = i % 2 == 1
        if closer is None:
            closer = _closer(piece) if is_delim else None
            if closer is None:
                out.append(piece)
            else:
                span = [piece]
            continue
        if is_delim and piece == closer:
            inner = "".join(span[1:])
            if closer == "$" and _PROSE_RUN.search(inner):  # two prices, not math
                out.append(" " + inner + " ")
            else:
                out.append(f" {MARK} ")
            closer, span = None, []
        elif closer == "$" and piece == "\n":  # an inline span never crosses a line
            out.extend([" ", *span[1:], piece])
            closer, span = None, []
        else:
            span.append(piece)
    if closer is not None:
        out.extend([" ", *span[1:]])
    return "".join(out)


def _prose_words(scanned: str) -> list[str]:
    """Prose words (two or more letters) of a text already passed through `_split_math`."""
    return [w.lower() for w in _PROSE_WORD.findall(_LATEX_CMD.sub(" ", scanned))]


def _sentence_length(sentence: str) -> tuple[int, bool]:
    """(words of a scanned sentence for its length: prose words, numbers and math spans, one each; whether it
    holds math or numbers). (0, False) when it has no prose word (an equation on its own line is neutral)."""
    words = _prose_words(sentence)
    if not words:
        return 0, False
    spans, numbers = sentence.count(MARK), len(_NUMBER.findall(sentence))
    return len(words) + spans + numbers, bool(spans or numbers)


def _sentence_score(n: int, has_math: bool) -> float:
    if n <= 2:
        return 0.0
    if n == 3 and not has_math:  # "Vaishali forms Veronica." ("We have $x=2$." is fine)
        return 0.25
    return _ramp(n, 30, 80)


def _weighted_sentences(sentences: list[tuple[int, bool]]) -> float:
    total = sum(n for n, _ in sentences)
    return sum(n * _sentence_score(n, m) for n, m in sentences) / total if total else 0.0


def _weighted(parts: list[int], score) -> float | None:
    total = sum(parts)
    return sum(n * score(n) for n in parts) / total if total else None


def readability_parts(text: str, language: str = "en") -> dict[str, float]:
    """The four parts of `readability` (see the module docstring)."""
    from r1.text import repetition_ratio

    body = _split_math(_TAGS.sub("\n", text or ""))
    words = _prose_words(body)
    if not words:
        return {"sentences": 0.0, "function_words": 0.0, "paragraphs": 0.0, "repetition": 0.0}
    sentences = [(n, m) for n, m in map(_sentence_length, _SENTENCE_SPLIT.split(body)) if n]
    paragraphs = [n for n in (len(_prose_words(p)) for p in _PARAGRAPH_SPLIT.split(body)) if n]
    english = (language or "en").lower().split("-")[0] == "en"
    # smoothed toward 1/5 (one function word in five prior words): a two-line terse solution with none is not
    # judged on six words
    ratio = (sum(w in FUNCTION_WORDS for w in words) + 1) / (len(words) + 5)
    return {
        "sentences": _weighted_sentences(sentences),
        "function_words": min(1.0, max(0.0, (ratio - 0.03) / 0.09)) if english else 1.0,
        "paragraphs": _weighted(paragraphs, lambda n: _ramp(n, 150, 400)) or 0.0,
        "repetition": _ramp(repetition_ratio(body, 3), 0.3, 0.6),
    }


def _product(parts: dict[str, float]) -> float:
    score = 1.0
    for value in parts.values():
        score *= value
    return score


def readability(text: str, language: str = "en") -> float:
    """Readability in [0, 1]: the product of `readability_parts`, the lower of reasoning and summary."""
    text = text or ""
    pieces = [text]
    if "</think>" in text:
        reasoning, summary = text.split("</think>", 1)
        pieces = [p for p in (reasoning, summary) if _prose_words(_split_math(_TAGS.sub(" ", p)))] or [text]
    return min(_product(readability_parts(p, language)) for p in pieces)
