"""Code out of a model's completion (the last ```python block of the answer, after any </think>), and the
program that runs it against a task's tests."""

from __future__ import annotations

import re

# An opening fence with an optional language tag, then the body up to the closing fence (or the end of the
# text: a completion cut at max_new_tokens keeps its last, unterminated block).
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


def extract_code(completion: str) -> str | None:
    """The code to run, or None when the completion has no fenced code block.

    Only the answer counts (text after the last `</think>`, if there is one). Among fenced blocks the
    last one tagged python wins, else the last untagged one; blocks tagged with another language
    (```text, ```bash, ...) are never run.
    """
    if not isinstance(completion, str):
        return None
    text = completion.rsplit("</think>", 1)[1] if "</think>" in completion else completion
    tagged, untagged = [], []
    for lang, body in _FENCE.findall(text):
        lang = lang.lower()
        if lang in _PYTHON_TAGS:
            tagged.append(body)
        elif not lang:
            untagged.append(body)
    blocks = tagged or untagged
    if not blocks or not blocks[-1].strip():
        return None
    return blocks[-1].rstrip() + "\n"


def program_for(code: str, prefix: str, entry_point: str | None) -> str:
    """The program to test: the model's code, after the task's prefix. A HumanEval-style prefix (the function
    header) is kept whole when the model only wrote the body, and only its imports are kept when the model
    wrote the whole function."""
    if not prefix:
        return code
    if entry_point and f"def {entry_point}(" not in code:
        return prefix + code  # a continuation of the header
    if entry_point:
        imports = [ln for ln in prefix.splitlines() if ln.startswith(("import ", "from "))]
        return "\n".join(imports) + "\n" + code
    return prefix + "\n" + code
