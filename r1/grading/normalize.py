"""LaTeX answer normalisation shared by both equivalence modes.

Follows Hendrycks' MATH `strip_string` and the PRM800K grader: drop `\\left`/`\\right`, `\\!`, `$`,
`^\\circ`, `\\%`, `\\text{...}` wrappers and trailing unit words, unify `\\dfrac`/`\\tfrac`, fix
`\\frac12` and `a/b`, strip a short `x =` left-hand side, and remove thousands separators. Spaces are
removed except where they separate a command from a following letter (`\\pi r` must not become `\\pir`).
All functions are linear-time string operations: they run in the parent process on untrusted text.
"""

from __future__ import annotations

import re
from fractions import Fraction

MODES = ("strict", "lenient")
# The grading defaults, used everywhere a grader runs (rewards, filters, evaluation, CLIs, config).
DEFAULT_MODE = "lenient"
DEFAULT_TIMEOUT_S = 2.0  # hard limit per graded item, seconds

_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_UNITS = (
    "square units|square feet|square inches|square meters|square centimeters|sq units|units?|"
    "cents?|dollars?|degrees?|inches|inch|feet|foot|ft|meters?|metres?|cm|mm|km|m|kg|g|grams?|"
    "hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|mph|miles?|pounds?|lbs?|"
    "ounces?|oz|liters?|litres?|ml|gallons?|people|students|marbles|apples|points|ways|times|percent"
)
_TRAILING_UNITS = re.compile(
    rf"^(.*?[0-9}}])\s*(?:\^\{{?[23]\}}?)?\s*(?:{_UNITS})(?:\s*\^\{{?[23]\}}?|\^[23])?\.?$"
)
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_INT = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_FRAC = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$")
_SLASH = re.compile(r"^([+-]?)(\d+)/(\d+)$")
_MC = re.compile(r"^\(?([A-Ea-e])\)?$")
_MC_PRED = re.compile(r"^(?:\\text\{)?\(?([A-E])\)?(?:[.:)}]|\s|$)")
_CMD_SPACE = re.compile(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])")
_WS = re.compile(r"\s+")


def strip_text_commands(s: str) -> str:
    """Replace `\\text{...}`-like wrappers by their content (innermost first, bounded passes)."""
    for _ in range(4):
        new = _TEXT_CMD.sub(r"\1", s)
        if new == s:
            break
        s = new
    return s


def _fix_fracs(s: str) -> str:
    """`\\frac12` -> `\\frac{1}{2}`, `\\frac1{2}` -> `\\frac{1}{2}` (Hendrycks)."""
    parts = s.split("\\frac")
    out = parts[0]
    for sub in parts[1:]:
        out += "\\frac"
        if not sub or sub[0] == "{":
            out += sub
            continue
        if len(sub) < 2:
            return s
        a, b = sub[0], sub[1]
        if b != "{":
            out += "{" + a + "}{" + b + "}" + sub[2:]
        else:
            out += "{" + a + "}" + sub[1:]
    return out


def _fix_sqrt(s: str) -> str:
    """`\\sqrt3` -> `\\sqrt{3}`."""
    return re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)


def _fix_a_slash_b(s: str) -> str:
    m = _SLASH.match(s)
    if m:
        return f"{m.group(1)}\\frac{{{m.group(2)}}}{{{m.group(3)}}}"
    return s


def _strip_outer_parens(s: str) -> str:
    """`(\\frac{8}{21})` -> `\\frac{8}{21}`: drop parentheses around the whole answer unless it is a tuple."""
    for _ in range(3):
        if len(s) < 2 or s[0] != "(" or s[-1] != ")":
            return s
        depth = 0
        for i, ch in enumerate(s):
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0 and i != len(s) - 1:
                    return s  # the first "(" closes early: `(a+5)(b+2)`
            elif ch == "," and depth == 1:
                return s  # a tuple or an interval
        s = s[1:-1]
    return s


def _squeeze_spaces(s: str) -> str:
    s = _CMD_SPACE.sub(lambda m: m.group(1) + "\x00", s)
    return _WS.sub("", s).replace("\x00", " ")


def normalize(answer: str) -> str:
    """Canonical string form of one extracted answer (never raises)."""
    s = str(answer).strip()
    s = s.replace("\n", " ").replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\:", "")
    s = s.replace("\\ ", " ").replace("~", " ")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\circ", "").replace("°", "")
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\%", "").replace("%", "")
    s = strip_text_commands(s)
    s = s.strip()
    if s.endswith("."):
        s = s[:-1].rstrip()
    m = _TRAILING_UNITS.match(s)
    if m:
        s = m.group(1)
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    if s.count("=") == 1:
        lhs, rhs = s.split("=")
        if len(lhs.strip()) <= 2 and rhs.strip():
            s = rhs
    s = _fix_sqrt(s)
    s = _squeeze_spaces(s)
    s = _strip_outer_parens(s)
    s = _fix_fracs(s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    if s == "0.5":
        s = "\\frac{1}{2}"
    s = _fix_a_slash_b(s)
    return s


def balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def as_int(s: str) -> int | None:
    if _INT.match(s) and len(s) < 400:
        return int(s)
    return None


def has_leading_zero(s: str) -> bool:
    digits = s.lstrip("+-")
    return len(digits) > 1 and digits[0] == "0"


def literal_fraction(s: str) -> tuple[int, int] | None:
    """(numerator, denominator) of a literal `\\frac{a}{b}` (after normalize), else None."""
    m = _FRAC.match(s)
    if not m or len(s) > 200:
        return None
    num, den = int(m.group(2)), int(m.group(3))
    if m.group(1) == "-":
        num = -num
    return num, den


def as_number(s: str) -> Fraction | None:
    """Exact value of a plain integer, decimal or literal fraction string (normalized form)."""
    if len(s) > 200:
        return None
    if _DECIMAL.match(s):
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            return None
    frac = literal_fraction(s)
    if frac and frac[1] != 0:
        return Fraction(frac[0], frac[1])
    return None


def mc_letter(s: str, pred: bool = False) -> str | None:
    """Multiple-choice letter of `(B)`/`B` (a prediction may continue: `(B) 42`)."""
    m = (_MC_PRED if pred else _MC).match(s.strip())
    return m.group(1).upper() if m else None


def split_top_level(s: str) -> tuple[str, list[str], str] | None:
    """`(a, b]` -> ("(", ["a", "b"], "]"); bare `a, b` -> ("", [...], ""). None if not a list."""
    s = s.strip()
    open_ch = close_ch = ""
    body = s
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        open_ch, close_ch, body = s[0], s[-1], s[1:-1]
    parts, depth, cur = [], 0, []
    for ch in body:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    if depth != 0 or len(parts) < 2 or any(not p.strip() for p in parts):
        return None
    return open_ch, [p.strip() for p in parts], close_ch
