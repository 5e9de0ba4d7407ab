"""Final-answer extraction from free model output.

Never grade free text by parsing arbitrary expressions in it: math-verify accepts "13 * 13 = 192" for 169.
Each extractor returns only an explicitly marked final answer. All extractors are linear-time string scans
(no backtracking regexes), so they are safe on hostile text, but `grade_batch` still runs them in workers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

DEFAULT_CHAIN: tuple[str, ...] = ("answer_tag", "boxed", "gsm8k", "answer_is", "bare")

_MAX_BOXED_TRIES = 8
_BRACE = re.compile(r"[{}]")
_ANSWER_IS = re.compile(
    r"(?:\bthe\s+(?:final\s+)?answer\s+is|\bfinal\s+answer\s+is|\bfinal\s+answer\s*:)[ \t]*:?[ \t]*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")
_HOPE = re.compile(r"\s*I hope it is correct\.?\s*$", re.IGNORECASE)


def _braced(text: str, start: int) -> str | None:
    """Content of the balanced `{...}` whose `{` is at `start`; None if it never closes."""
    depth = 0
    for m in _BRACE.finditer(text, start):
        if m.group() == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return text[start + 1 : m.start()]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last non-empty `\\boxed{...}` / `\\fbox{...}` (nested braces), or `\\boxed 5`."""
    end = len(text)
    for _ in range(_MAX_BOXED_TRIES):
        b, f = text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end)
        pos = max(b, f)
        if pos < 0:
            return None
        i = pos + (len("\\boxed") if pos == b else len("\\fbox"))
        while i < len(text) and text[i] in " \t":
            i += 1
        content = None
        if i < len(text) and text[i] == "{":
            content = _braced(text, i)
        elif i > pos + 5 and i < len(text) and text[i - 1] in " \t":
            m = re.match(r"[^\s$]+", text[i : i + 200])
            content = m.group(0) if m else None
        if content is not None and content.strip():
            return content.strip()
        end = pos
    return None


def _answer_tag(text: str) -> str | None:
    close = text.rfind("</answer>")
    if close < 0:
        return None
    open_ = text.rfind("<answer>", 0, close)
    if open_ < 0:
        return None
    content = text[open_ + len("<answer>") : close].strip()
    if "\\boxed" in content or "\\fbox" in content:
        content = last_boxed(content) or content
    return _strip_math_delims(content) or None


def _gsm8k(text: str) -> str | None:
    pos = text.rfind("#### ")
    if pos < 0:
        return None
    rest = text[pos + 5 :].strip().split("\n", 1)[0].strip()
    rest = rest.rstrip(".").strip()
    return _strip_math_delims(rest) or None


def _strip_math_delims(s: str) -> str:
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


def _answer_is(text: str) -> str | None:
    last = None
    for last in _ANSWER_IS.finditer(text):  # noqa: B007 - keep the last match
        pass
    if last is None:
        return None
    rest = text[last.end() : last.end() + 2000]
    rest = _HOPE.sub("", rest.split("\n", 1)[0]).strip()
    if rest.startswith("$"):
        delim = "$$" if rest.startswith("$$") else "$"
        close = rest.find(delim, len(delim))
        ans = rest[len(delim) : close] if close > 0 else rest[len(delim) :]
    elif rest.startswith(("\\(", "\\[")):
        close = rest.find("\\)" if rest[1] == "(" else "\\]", 2)
        ans = rest[2:close] if close > 0 else rest[2:]
    else:
        m = _SENTENCE_END.search(rest)
        ans = rest[: m.start()] if m else rest
    if "\\boxed" in ans or "\\fbox" in ans:
        ans = last_boxed(ans) or ans
    ans = ans.strip().rstrip(".").strip()
    return ans or None


_BARE = re.compile(r"[+-]?\d+(?:\.\d+)?")


def _bare(text: str) -> str | None:
    """The whole completion is one number (e.g. "42" or "-7." when asked for the number only)."""
    s = text.strip()
    if len(s) > 40:
        return None
    s = s.rstrip(".").strip()
    return s if _BARE.fullmatch(s) else None


EXTRACTORS: dict[str, Callable[[str], str | None]] = {
    "answer_tag": _answer_tag,
    "boxed": last_boxed,
    "gsm8k": _gsm8k,
    "answer_is": _answer_is,
    "bare": _bare,
}


def extract_answer(text: str, chain: Sequence[str] = DEFAULT_CHAIN) -> str | None:
    """The first answer found by the extractors in `chain`, tried in order; None if none matches."""
    if isinstance(chain, str):
        chain = (chain,)
    unknown = [name for name in chain if name not in EXTRACTORS]
    if unknown:
        raise ValueError(f"unknown extractor(s) {unknown}; known: {sorted(EXTRACTORS)}")
    if not isinstance(text, str) or not text:
        return None
    for name in chain:
        found = EXTRACTORS[name](text)
        if found:
            return found
    return None
