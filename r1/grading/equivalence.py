"""Answer equivalence in two modes: `strict` (PRM800K/Hendrycks-like) and `lenient` (Qwen2.5-Math-like).

strict: normalise both sides (see `normalize.py`), then
  - equal strings -> True;
  - an integer reference needs an integer answer with the same value (no `27.0`, no `\\frac{54}{2}`,
    no zero padding);
  - a literal fraction that is not in lowest terms must match exactly (`\\frac{2}{4}` != `\\frac{1}{2}`);
  - plain numbers (integers, decimals, reduced fractions) compare by exact value (`0.5` == `\\frac{1}{2}`);
  - a decimal against a reference that is not a plain number is False (PRM800K: `0.866025` is not
    `\\frac{\\sqrt{3}}{2}`; math-verify would round both to 6 places);
  - anything else: math-verify symbolic equality (`strict=True`).
lenient: everything strict accepts, plus case-insensitive strings, multiple-choice letters (`(B)` == `B`),
  the right-hand side of a relation whose left side names a quantity (`y = 2x` vs `2x`, never `13 = 7`),
  numbers by value, tuples/intervals element-wise (same brackets), and math-verify with `strict=False`.
  Numbers: an integer-valued reference (`60000`, `27.0`, `50\\%`, `2^{10}`) needs an answer of exactly the
  same value written as a number (`27.0`, `6e4` pass; `60001`, `59999.9` fail); only a reference that is
  not an integer gets the 1e-4 relative tolerance (`3.14159` for `\\pi`). Percentages: `50\\%` == `0.5`
  both ways, but a `%` never turns an answer into a different integer (`5000\\%` is not `50`).
Both modes: an integer-valued reference is never matched by an unevaluated expression (`20 + 10`, `2^{10}`,
  `\\frac{60}{2}`, `3 \\times 10` for `30`: a GRPO policy farmed reward by boxing the problem's arithmetic
  unevaluated), only by a number as written (integer, decimal, scientific, or a reduced fraction for a
  percentage) or by the reference's own text; thousands separators are removed by normalisation (`1,000` ==
  `1000`); units and `\\text{...}` suffixes after a number are ignored (the question fixes the unit); `x = 3`
  is not `y = 3` (two named left-hand sides must agree); an answer that hedges with "or" (`5 \\lor 6`,
  `5 \\text{ or } 6`) is wrong unless the reference has the same form.

A reference that is empty, has unbalanced braces or holds no letter or digit gives None (skip the sample).
Nothing here has timeout protection: math-verify's SIGALRM timeouts are disabled so this works in any
thread. Untrusted model output must go through `grade_batch`, which runs this in killable workers.
"""

from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
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
    is_decimal,
    literal_fraction,
    mc_letter,
    normalize,
    split_top_level,
    variable_lhs,
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
        if strict:
            return bool(verify(g, p, strict=True, timeout_seconds=None))
        return any(verify([ge], _align_variables(p, ge), strict=True, timeout_seconds=None) for ge in g)
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return False


def _align_variables(preds: list, gold) -> list:
    """Math-Verify's non-strict mode (0.9.0, `sympy_expr_eq`) renames the prediction's variables to the gold's
    by zipping two *sets* of symbols, whose order changes with PYTHONHASHSEED: the same pair was graded
    True in one process and False in another (`y=-\\frac{1}{2}x+\\frac{3}{4}` for `2x+4y-3=0`: False under 2
    of 16 seeds, x and y swapped). The same renaming, in name order and simultaneous, then a strict verify
    (non-strict differs from strict only by that renaming in 0.9.0)."""
    from sympy import Basic
    from sympy.matrices import MatrixBase

    if not isinstance(gold, (Basic, MatrixBase)):
        return preds
    gold_vars = sorted(gold.free_symbols, key=str)
    out = []
    for pe in preds:
        if isinstance(pe, (Basic, MatrixBase)):
            pred_vars = sorted(pe.free_symbols, key=str)
            if pred_vars and len(pred_vars) == len(gold_vars) and pred_vars != gold_vars:
                pe = pe.subs(list(zip(pred_vars, gold_vars, strict=True)), simultaneous=True)
        out.append(pe)
    return out


def _reduced(frac: tuple[int, int]) -> bool:
    num, den = frac
    return den > 1 and math.gcd(num, den) == 1


def _written_number(s: str) -> bool:
    """`s` (normalized) is a number as written, not an expression to evaluate: an integer, a decimal or
    scientific literal (`27.0`, `6e4`), or a fraction in lowest terms (`\\frac{1}{2}`; `\\frac{60}{2}` is a
    division)."""
    frac = literal_fraction(s)
    return as_number(s) is not None if frac is None else _reduced(frac)


def _unevaluated(p: str, g: str, depth: int = 0) -> bool:
    """`p` is an expression left unevaluated (`20 + 10`) against a reference with an integer value (`30`),
    itself or as an element of a tuple / interval / list (`(20 + 10, 5)` for `(30, 5)`)."""
    if p == g or _written_number(p):
        return False
    p_parts, g_parts = split_top_level(p), split_top_level(g)
    if p_parts and g_parts:
        return depth < 3 and any(
            _unevaluated(a.strip(), b.strip(), depth + 1)
            for a, b in zip(p_parts[1], g_parts[1], strict=False)
        )
    g_val = _exact_value(g)
    return g_val is not None and _integral(g_val)


def _equal_strict(p: str, g: str) -> bool:
    if p == g:
        return True
    if not _structure(p) <= _structure(g):
        return False
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
    if is_decimal(p) or is_decimal(g):  # one side a decimal, the other not a plain number
        return False
    if _unevaluated(p, g):  # `2^{9} \cdot 2` for `2^{10}`
        return False
    return _mv_equal(p, g, strict=True)


def _exact_value(s: str):
    """The exact value of a closed-form number: a Fraction for literals, a sympy number (no free symbols)
    for expressions such as `2^{10}` or `\\sqrt{2}`; None otherwise."""
    exact = as_number(s)
    if exact is not None:
        return exact
    if len(s) > 200 or split_top_level(s) is not None:  # `32,349` is a list here, not a number
        return None
    for expr in _mv_parse(s):
        try:
            if getattr(expr, "is_number", False) and not getattr(expr, "free_symbols", True):
                value = complex(expr.evalf(30))
                if math.isfinite(value.real) and abs(value.imag) <= 1e-12 * max(1.0, abs(value.real)):
                    return expr
        except Exception:  # noqa: BLE001, S112 - not a finite number
            continue
    return None


def _integral(v) -> bool:
    if isinstance(v, Fraction):
        return v.denominator == 1
    try:
        f = float(v.evalf(30))
        return abs(f - round(f)) <= 1e-9 * max(1.0, abs(f)) and bool(v.equals(round(f)))
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return False


def _same_value(a, b) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    import sympy

    def sym(v):
        return sympy.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v

    try:
        return bool(sympy.simplify(sym(a) - sym(b)) == 0)
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return False


def _float(v) -> float:
    return float(v) if isinstance(v, Fraction) else float(v.evalf(30))


def _close(a, b) -> bool:
    fa, fb = _float(a), _float(b)
    return math.isclose(fa, fb, rel_tol=REL_TOL, abs_tol=0.0) or (fa == 0.0 and fb == 0.0)


def _numbers_equal(p, g, p_percent: bool, g_percent: bool) -> bool:
    """Lenient numeric equality: exact for an integer-valued reference, 1e-4 relative otherwise; a `%` on
    either side also allows the value / 100 (exactly, for an integer reference written with `%`)."""
    integral = _integral(g)
    golds = [g, g / 100] if g_percent else [g]
    preds = [p, p / 100] if p_percent and not integral else [p]
    for pv in preds:
        for gv in golds:
            if _same_value(pv, gv) if integral else _close(pv, gv):
                return True
    return False


def _is_percent(raw: str) -> bool:
    return "%" in raw or "percent" in raw.lower() or "pct" in raw.lower()


_LATEX_CMD = re.compile(r"\\[a-zA-Z]+")
_HEDGE = re.compile(r"\\lor\b|\\vee\b|\bor\b", re.IGNORECASE)
# Relations and separators: math-verify parses `5 \\approx 6`, `5 \\\\ 6`, `5 | 6` or `\\frac12 = \\frac13` as
# one of the two numbers, so an answer holding one that the reference lacks would be farmable.
_STRUCTURE = re.compile(
    r"\\\\|\\(?:approx|neq|ne|mid|cup|cap|setminus|lor|vee|land|wedge|text|quad|qquad)(?![a-zA-Z])|[=|;]"
)


def _structure(s: str) -> set[str]:
    """Relation and separator tokens of `s`, plus "unbalanced" when its brackets do not pair up in number
    (`5(6`, left by a `\\text{ (}6\\text{)}` suffix; intervals such as `[1, 2)` pair up)."""
    tokens = set(_STRUCTURE.findall(s))
    if sum(s.count(c) for c in "([{") != sum(s.count(c) for c in ")]}"):
        tokens.add("unbalanced")
    return tokens


def _hedged(p_raw: str, g_raw: str) -> bool:
    """The answer offers alternatives (`5 \\lor 6`, `5 \\text{ or } 6`) that the reference does not."""
    return bool(_HEDGE.search(p_raw)) and not _HEDGE.search(g_raw)


def _lhs_conflict(p_raw: str, g_raw: str) -> bool:
    """Both sides name a quantity on the left (`x = 3`, `y = 3`) and the names differ."""
    p_lhs, g_lhs = variable_lhs(p_raw)[0], variable_lhs(g_raw)[0]
    return p_lhs is not None and g_lhs is not None and p_lhs != g_lhs


def _equal_lenient(p: str, g: str, p_raw: str, g_raw: str, depth: int = 0) -> bool:
    if _equal_strict(p, g) or p.lower() == g.lower():
        return True
    g_letter = mc_letter(g)
    if g_letter is not None:
        p_letter = mc_letter(p, pred=True) or mc_letter(p_raw, pred=True)
        if p_letter is not None:
            return p_letter == g_letter
    if p.count("=") == 1 and "=" not in g:
        lhs, rhs = p.split("=")
        if rhs and any(ch.isalpha() for ch in _LATEX_CMD.sub("", lhs)):  # `a+b=7`, never `\\frac12=7`
            p = rhs
            if p == g:
                return True
    if not _structure(p) <= _structure(g):
        return False
    g_val = _exact_value(g)
    if g_val is not None:
        if _integral(g_val) and not _written_number(p):  # `20 + 10` for `30` (p == g was strict's)
            return False
        p_val = _exact_value(p)
        if p_val is not None:
            return _numbers_equal(p_val, g_val, _is_percent(p_raw), _is_percent(g_raw))
        if _integral(g_val):
            return False
    g_parts, p_parts = split_top_level(g), split_top_level(p)
    if bool(p_parts) != bool(g_parts):  # a list against one value (`0,111` is two items, never 0.111)
        return False
    if g_parts and p_parts and depth < 3 and len(g_parts[1]) == len(p_parts[1]):
        same_brackets = (g_parts[0], g_parts[2]) == (p_parts[0], p_parts[2])
        bare = not g_parts[0] or not p_parts[0]
        if same_brackets or bare:
            return all(
                _equal_lenient(normalize(a), normalize(b), a, b, depth + 1)
                for a, b in zip(p_parts[1], g_parts[1], strict=True)
            )
    if not _structure(p) <= _structure(g) or _unevaluated(p, g):
        return False
    return _mv_equal(p, g, strict=False) or (
        (p_raw != p or g_raw != g)
        and _structure(p_raw) <= _structure(g_raw)
        and _mv_equal(p_raw, g_raw, strict=False)
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
    if _hedged(p_raw, g_raw) or _lhs_conflict(p_raw, g_raw):
        return False
    if mode == "strict":
        return _equal_strict(p, g)
    return _equal_lenient(p, g, p_raw, g_raw)
