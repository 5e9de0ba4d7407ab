"""Convert other graders' own test suites into r1 peer-suite cases (tests/unit/peer_suites/*.jsonl).

    python scripts/convert_peer_suites.py --math-verify DIR --nemo-skills DIR --open-r1 DIR

Each DIR is a git checkout (or bare mirror) of the peer repository; files are read with `git show HEAD:path`,
so the commit recorded in tests/unit/peer_suites/SOURCE.md is the one converted. Every case keeps the peer's
label:

- huggingface/Math-Verify `tests/*.py`: every `@pytest.mark.parametrize` table of (gold, pred, expected)
  pairs, with the table's extra columns (strict, precision, allow_set_relation_comp) as `options`. The peer
  parses both strings as free model output.
- NVIDIA/NeMo-Skills `tests/test_math_equal.py`: `math_equal(a, b)` is asserted in both orders, so each pair
  gives two cases (pred=a, gold=b and the reverse), already-extracted answers.
- huggingface/open-r1 `tests/test_rewards.py`: the accuracy cases (completion, solution, reward) of
  `accuracy_reward`, `get_cosine_scaled_reward` (its sign is correctness) and `len_reward` (unparseable gold),
  and the `format_reward` cases. These tests are unittest methods, so the cases are listed here by hand and
  each literal is checked to occur in the peer file.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "unit" / "peer_suites"
MATH_VERIFY_FILES = [
    "tests/test_all.py",
    "tests/test_boxed.py",
    "tests/test_numina_cases.py",
    "tests/test_open_thoughts.py",
    "tests/test_strict.py",
    "tests/test_yujianll.py",
]


def git_show(repo: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True, text=True, check=True
    ).stdout


def git_head(repo: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _value(node: ast.expr):
    """A table cell: a literal, or an f-string over `math` (`f"{math.sqrt(17):.15f}"` in Math-Verify)."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        code = compile(ast.Expression(node), "<peer test>", "eval")
        return eval(code, {"__builtins__": {}, "math": math})  # noqa: S307 - a peer test's table cell


def _call_options(func: ast.FunctionDef) -> dict:
    """Literal keyword arguments of the comparison call in the test body (match_types, precision, ...)."""
    options = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "compare_strings":
            for kw in node.keywords:
                try:
                    options[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue  # a parametrized value (strict=strict): taken from the table row
    return options


def _parametrize_tables(source: str):
    """(test name, argument names, [row tuples], call options) for each `pytest.mark.parametrize` table."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
            rows = []
            for elt in dec.args[1].elts:
                if isinstance(elt, ast.Call):  # pytest.param(...)
                    rows.append(tuple(_value(a) for a in elt.args))
                else:
                    rows.append(tuple(_value(e) for e in elt.elts))
            yield node.name, names, rows, _call_options(node)


def math_verify_cases(repo: str) -> list[dict]:
    cases = []
    for path in MATH_VERIFY_FILES:
        for test, names, rows, call in _parametrize_tables(git_show(repo, path)):
            for i, row in enumerate(rows):
                values = {**call, **dict(zip(names, row, strict=True))}
                label = values.pop("expected", values.pop("result", None))
                gold, pred = values.pop("gold"), values.pop("pred")
                cases.append(
                    {
                        "id": f"{path}::{test}[{i}]",
                        "gold": str(gold),
                        "pred": str(pred),
                        "label": bool(label),
                        "input": "free_text",
                        "options": values,
                    }
                )
    return cases


def nemo_skills_cases(repo: str) -> list[dict]:
    path = "tests/test_math_equal.py"
    cases = []
    for test, _, rows, _ in _parametrize_tables(git_show(repo, path)):
        label = test == "test_correct_examples"
        for i, (a, b) in enumerate(rows):
            for order, (pred, gold) in (("ab", (a, b)), ("ba", (b, a))):
                cases.append(
                    {
                        "id": f"{path}::{test}[{i}]:{order}",
                        "gold": None if gold is None else str(gold),
                        "pred": None if pred is None else str(pred),
                        "label": label,
                        "input": "answer",
                        "options": {},
                    }
                )
    return cases


# open-r1 tests/test_rewards.py (unittest methods): (test, completion, solution, label, kind)
OPEN_R1 = [
    ("test_accuracy_reward_correct_answer", r"\boxed{\frac{63}{400}}", r"\frac{63}{400}", True, "accuracy"),
    ("test_accuracy_reward_wrong_answer", r"\boxed{\frac{64}{400}}", r"\frac{63}{400}", False, "accuracy"),
    ("test_accuracy_reward_wrong_answer_no_latex", r"\boxed{3}", "6", False, "accuracy"),
    ("test_multiple_completions[0]", r"\boxed{\frac{63}{400}}", r"\frac{63}{400}", True, "accuracy"),
    ("test_multiple_completions[1]", r"\boxed{\frac{64}{400}}", r"\frac{63}{400}", False, "accuracy"),
    ("test_cosine_scaled_reward[0]", r"\boxed{\frac{63}{400}}", r"\frac{63}{400}", True, "accuracy"),
    ("test_cosine_scaled_reward[2]", r"\boxed{\frac{64}{400}}", r"\frac{63}{400}", False, "accuracy"),
    (
        "test_mixed_correctness[1]",
        r"\boxed{\frac{63}{400}}  " + "x" * 10,
        r"\frac{63}{400}",
        True,
        "accuracy",
    ),
    (
        "test_mixed_correctness[3]",
        r"\boxed{\frac{64}{400}}  " + "x" * 10,
        r"\frac{63}{400}",
        False,
        "accuracy",
    ),
    # an unparseable reference: no sample is counted correct (len_reward gives every sample 0)
    ("test_unparseable_solution", r"\boxed{answer}", "unparseable_latex", False, "accuracy"),
    (
        "test_format_reward_correct",
        "<think>\nSome reasoning\n</think>\n<answer>\nThe answer\n</answer>",
        None,
        True,
        "format",
    ),
    ("test_format_reward_incorrect[0]", "<think>Only thinking</think>", None, False, "format"),
    ("test_format_reward_incorrect[1]", "<answer>Only answer</answer>", None, False, "format"),
    ("test_format_reward_incorrect[2]", "No tags at all", None, False, "format"),
    (
        "test_format_reward_incorrect[3]",
        "<think>Missing closing</think><answer>Missing closing",
        None,
        False,
        "format",
    ),
    (
        "test_format_reward_incorrect[4]",
        "<think>Wrong order</answer><answer>Wrong order</think>",
        None,
        False,
        "format",
    ),
]


def open_r1_cases(repo: str) -> list[dict]:
    path = "tests/test_rewards.py"
    source = git_show(repo, path)
    cases = []
    for test, completion, solution, label, kind in OPEN_R1:
        for literal in (completion.split("  ")[0], solution):
            if literal is not None and literal not in source and repr(literal)[1:-1] not in source:
                raise SystemExit(f"open-r1 {path}: {test}: literal {literal!r} not found in the peer file")
        if test.split("[")[0] not in source:
            raise SystemExit(f"open-r1 {path}: no test named {test}")
        cases.append(
            {
                "id": f"{path}::{test}",
                "gold": solution,
                "pred": completion,
                "label": label,
                "input": "completion" if kind == "accuracy" else "format",
                "options": {},
            }
        )
    return cases


def write(name: str, cases: list[dict]) -> None:
    path = OUT / f"{name}.jsonl"
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    print(f"{path}: {len(cases)} cases")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--math-verify", required=True)
    ap.add_argument("--nemo-skills", required=True)
    ap.add_argument("--open-r1", required=True)
    args = ap.parse_args()
    write("math_verify", math_verify_cases(args.math_verify))
    write("nemo_skills", nemo_skills_cases(args.nemo_skills))
    write("open_r1", open_r1_cases(args.open_r1))
    for name, repo in (
        ("huggingface/Math-Verify", args.math_verify),
        ("NVIDIA/NeMo-Skills", args.nemo_skills),
        ("huggingface/open-r1", args.open_r1),
    ):
        print(f"{name} at {git_head(repo)}")


if __name__ == "__main__":
    main()
