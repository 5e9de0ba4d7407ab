"""Answer equivalence in two modes: `strict` (PRM800K/Hendrycks-like) and `lenient` (Qwen2.5-Math-like).

strict: normalise both sides (see `normalize.py`), then
  - equal strings -> True;
  - an integer reference needs an integer answer with the same value (no `27.0`, no `\\frac{54}{2}`,
    no zero padding);
  - a literal fraction that is not in lowest terms must match exactly (`\\frac{2}{4}` != `\\frac{1}{2}`);
  - plain numbers (integers, decimals, reduced fractions) compare by exact value (`0.5` == `\\frac{1}{2}`);
  - anything else: math-verify symbolic equality (`strict=True`).
lenient: everything strict accepts, plus case-insensitive strings, multiple-choice letters (`(B)` == `B`),
  a relation's right-hand side (`y = 2x` vs `2x`), numeric equality within 1e-4 relative (zero padding,
  `27.0` == `27`), percentage variants when either side carries `%`/"percent" (`50\\%` == `0.5` == `50`),
  tuples/intervals element-wise (same brackets), and math-verify with `strict=False`.
Thousands separators are removed by normalisation, so `1,000` == `1000` in both modes.

A reference that is empty, has unbalanced braces or holds no letter or digit gives None (skip the sample).
Nothing here has timeout protection: math-verify's SIGALRM timeouts are disabled so this works in any
thread. Untrusted model output must go through `grade_batch`, which runs this in killable workers.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from r1.grading.extract import _strip_math_delims, last_boxed
from r1.grading.normalize import (
    DEFAULT_MODE,
    MODES,
    as_int,
    as_number,
    balanced,
    has_leading_zero,
    literal_fraction,
    mc_letter,
    normalize,
    split_top_level,
)

REL_TOL = 1e-4
_MAX_ANSWER_CHARS = 20_000
_LATEX_CFG = [LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False)]
_EXPR_CFG = [ExprExtractionConfig()]

logging.getLogger("math_verify").setLevel(logging.ERROR)


def _unwrap(answer: str) -> str:
    s = answer.strip()
    if "####" in s:
        s = s.rsplit("####", 1)[1].strip()
    if "\\boxed" in s or "\\fbox" in s:
        s = last_boxed(s) or ""
    return _strip_math_delims(s)


@lru_cache(maxsize=8192)
def prepare_gold(gold: str) -> tuple[str, str] | None:
    """(raw answer, normalized answer) of a reference, or None when it is unusable."""
    g = _unwrap(gold)
    if not g or len(g) > _MAX_ANSWER_CHARS or not balanced(g):
        return None
    n = normalize(g)
    if not n or not any(ch.isalnum() for ch in n):
        return None
    return g, n


@lru_cache(maxsize=16384)
def _mv_parse(s: str):
    try:
        out = parse("\\boxed{" + s + "}", _LATEX_CFG, fallback_mode="no_fallback", parsing_timeout=None)
        if not out:
            out = parse(s, _EXPR_CFG, fallback_mode="no_fallback", parsing_timeout=None)
        return out
    except Exception:  # noqa: BLE001 - any parser failure means "not parseable"
        return []


def _mv_equal(pred: str, gold: str, strict: bool) -> bool:
    g, p = _mv_parse(gold), _mv_parse(pred)
    if not g or not p:
        return False
    try:
        return bool(verify(g, p, strict=strict, timeout_seconds=None))
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return False


def _reduced(frac: tuple[int, int]) -> bool:
    num, den = frac
    return den > 1 and math.gcd(num, den) == 1


def _equal_strict(p: str, g: str) -> bool:
    if p == g:
        return True
    g_int = as_int(g)
    if g_int is not None:
        p_int = as_int(p)
        return p_int is not None and p_int == g_int and not has_leading_zero(p)
    for frac in (literal_fraction(g), literal_fraction(p)):
        if frac is not None and not _reduced(frac):
            return False
    g_num, p_num = as_number(g), as_number(p)
    if g_num is not None and p_num is not None:
        return g_num == p_num
    return _mv_equal(p, g, strict=True)


def _float_value(s: str) -> float | None:
    exact = as_number(s)
    if exact is not None:
        return float(exact)
    if len(s) > 200:
        return None
    parsed = _mv_parse(s)
    for expr in parsed:
        try:
            if getattr(expr, "is_number", False) and not getattr(expr, "free_symbols", True):
                value = complex(expr.evalf(30))
                if abs(value.imag) <= 1e-12 * max(1.0, abs(value.real)):
                    return value.real
        except Exception:  # noqa: BLE001, S112 - not a finite number
            continue
    return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0) or (a == 0.0 and b == 0.0)


def _is_percent(raw: str) -> bool:
    return "%" in raw or "percent" in raw.lower()


def _equal_lenient(p: str, g: str, p_raw: str, g_raw: str, depth: int = 0) -> bool:
    if _equal_strict(p, g) or p.lower() == g.lower():
        return True
    g_letter = mc_letter(g)
    if g_letter is not None:
        p_letter = mc_letter(p, pred=True) or mc_letter(p_raw, pred=True)
        if p_letter is not None:
            return p_letter == g_letter
    if "=" in p and "=" not in g:
        p = p.rsplit("=", 1)[1]
        if p == g:
            return True
    g_val, p_val = _float_value(g), _float_value(p)
    if g_val is not None and p_val is not None:
        if _close(p_val, g_val):
            return True
        if _is_percent(p_raw) or _is_percent(g_raw):
            return _close(p_val, g_val * 100) or _close(p_val, g_val / 100)
        return False
    g_parts, p_parts = split_top_level(g), split_top_level(p)
    if g_parts and p_parts and depth < 3 and len(g_parts[1]) == len(p_parts[1]):
        same_brackets = (g_parts[0], g_parts[2]) == (p_parts[0], p_parts[2])
        bare = not g_parts[0] or not p_parts[0]
        if same_brackets or bare:
            return all(
                _equal_lenient(normalize(a), normalize(b), a, b, depth + 1)
                for a, b in zip(p_parts[1], g_parts[1], strict=True)
            )
    return _mv_equal(p, g, strict=False) or (
        (p_raw != p or g_raw != g) and _mv_equal(p_raw, g_raw, strict=False)
    )


def is_equivalent(pred: str | None, gold: str, mode: str = DEFAULT_MODE) -> bool | None:
    """Is the extracted answer `pred` equivalent to the reference `gold` under `mode`?

    None when `gold` is empty or unusable (skip the sample, never count it correct); False when pred is None.
    In-process and without timeout protection: grade untrusted output with `grade_batch`.
    """
    if mode not in MODES:
        raise ValueError(f"unknown equivalence mode {mode!r}; known: {list(MODES)}")
    if not isinstance(gold, str):
        return None
    prepared = prepare_gold(gold)
    if prepared is None:
        return None
    if pred is None:
        return False
    g_raw, g = prepared
    p_raw = _unwrap(str(pred))
    if not p_raw or len(p_raw) > _MAX_ANSWER_CHARS:
        return False
    p = normalize(p_raw)
    if not p:
        return False
    if mode == "strict":
        return _equal_strict(p, g)
    return _equal_lenient(p, g, p_raw, g_raw)
