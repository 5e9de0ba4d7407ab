"""Grading: extraction, strict/lenient equivalence, hard timeouts and crash recovery (real math-verify)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from r1.benchmarks import MATH500_PATH
from r1.grading import (
    DEFAULT_CHAIN,
    GradeResult,
    cluster_answers,
    extract_answer,
    grade_batch,
    is_equivalent,
)
from r1.grading.cli import main as grade_main
from r1.grading.pool import POOL

ASSETS = Path(__file__).resolve().parents[2] / "r1" / "assets" / "benchmarks"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------ extraction
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{\\sqrt{\\frac{a}{b}}}", "\\sqrt{\\frac{a}{b}}"),
        ("\\fbox{7}", "7"),
        ("\\boxed 5$ done", "5"),
        ("empty \\boxed{} but earlier \\boxed{3}", "3"),
        ("\\boxed{4} and a truncated \\boxed{12", "4"),
        ("<think>maybe \\boxed{1}</think><answer>42</answer>", "42"),
        ("<answer>We get $\\boxed{x=2}$</answer>", "x=2"),
        ("<answer>$7$</answer>", "7"),
        ("Natalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
        ("#### 1,000\n", "1,000"),
        ("The answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
        ("the final answer is 3.5. Next line", "3.5"),
        ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
        ("Final answer: (B)", "(B)"),
        ("13 * 13 = 192", None),
        ("", None),
        ("no answer here, only 42", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_chain_order_and_validation():
    text = "<answer>1</answer> \\boxed{2}"
    assert extract_answer(text) == "1"
    assert extract_answer(text, ("boxed", "answer_tag")) == "2"
    assert extract_answer("The answer is 3", ("boxed",)) is None
    assert DEFAULT_CHAIN == ("answer_tag", "boxed", "gsm8k", "answer_is", "bare")
    # bare: only a completion that is one number as a whole (asked for "the number only")
    assert extract_answer(" -7. ") == "-7"
    assert extract_answer("12 apples") is None
    assert extract_answer("x = 12") is None
    with pytest.raises(ValueError, match="known"):
        extract_answer("x", ("nope",))


# ------------------------------------------------------------------ equivalence table
BOTH = ("strict", "lenient")
EQUIVALENCE = [
    # pred, gold, strict, lenient
    ("\\frac{1}{2}", "0.5", True, True),
    ("0.5", "\\frac{1}{2}", True, True),
    ("\\dfrac12", "\\frac{1}{2}", True, True),
    ("x=3", "3", True, True),
    ("3", "x = 3", True, True),
    ("1,000", "1000", True, True),
    ("1000", "1,000", True, True),
    ("11111111100", "11,\\! 111,\\! 111,\\! 100", True, True),
    ("50\\%", "0.5", False, True),
    ("0.5", "50\\%", False, True),
    ("50", "50\\%", True, True),
    ("\\frac{2}{4}", "\\frac{1}{2}", False, True),
    ("025", "25", False, True),
    ("27.0", "27", False, True),
    ("\\frac{54}{2}", "27", False, False),  # a division left unevaluated, for an integer (issue 12)
    ("(B)", "B", True, True),
    ("B", "\\text{(B)}", True, True),
    ("C", "(B)", False, False),
    ("90", "90^\\circ", True, True),
    ("5.4", "5.4 \\text{ cents}", True, True),
    ("\\$18", "18", True, True),
    ("(1, 2)", "(1,2)", True, True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", True, True),
    ("(3, 1.5708)", "\\left( 3, \\frac{\\pi}{2} \\right)", False, True),
    ("[1, 2)", "(1,2)", False, False),
    ("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2", True, True),
    ("3.14159", "\\pi", False, True),
    ("Evelyn", "\\text{Evelyn}", True, True),
    ("41", "42", False, False),
    ("200", "2", False, False),
    ("0.33", "\\frac{1}{3}", False, False),
    ("13 * 13 = 192", "169", False, False),
    ("x^2+2x+1", "(x+1)^2", True, True),
    ("", "5", False, False),
    (None, "5", False, False),
]


@pytest.mark.parametrize(("pred", "gold", "strict", "lenient"), EQUIVALENCE)
def test_is_equivalent_table(pred, gold, strict, lenient):
    assert is_equivalent(pred, gold, "strict") is strict
    assert is_equivalent(pred, gold, "lenient") is lenient


@pytest.mark.parametrize("gold", ["", "   ", "\\frac{1}{", "}{", "$$", "\\boxed{}", "#### ", None])
@pytest.mark.parametrize("mode", BOTH)
def test_unusable_gold_is_none_never_true(gold, mode):
    assert is_equivalent("5", gold, mode) is None
    assert is_equivalent(None, gold, mode) is None
    [res] = grade_batch(["\\boxed{5}"], [gold if gold is not None else ""], mode=mode)
    assert res.correct is None and res.mode == mode


def test_unknown_mode_rejected():
    with pytest.raises(ValueError, match="lenient"):
        is_equivalent("1", "1", "fuzzy")
    with pytest.raises(ValueError, match="strict"):
        grade_batch(["1"], ["1"], mode="fuzzy")


def test_free_text_is_not_graded_by_parsing_expressions():
    for mode in BOTH:
        [res] = grade_batch(["13 * 13 = 192"], ["169"], mode=mode)
        assert res.correct is False and res.extracted is None
        [res] = grade_batch(["13 * 13 = 169, so \\boxed{169}"], ["169"], mode=mode)
        assert res.correct is True


def test_table_through_grade_batch_matches_in_process():
    rows = [(p, g) for p, g, _, _ in EQUIVALENCE if p]
    for mode in BOTH:
        results = grade_batch([f"Thus \\boxed{{{p}}}." for p, _ in rows], [g for _, g in rows], mode=mode)
        assert all(isinstance(r, GradeResult) and not r.timed_out for r in results)
        assert [r.correct for r in results] == [is_equivalent(p, g, mode) for p, g in rows]


# ---------------------------------------------------------- what a policy could farm, and normalize() bugs
# Each row pins one decision (issue 12). pred, gold, strict, lenient.
PINNED = [
    # an integer reference needs an answer of exactly its value, in both modes (no 1e-4 tolerance)
    ("60001", "60000", False, False),
    ("59999", "60000", False, False),
    ("1000001", "1000000", False, False),
    ("1000000.4", "1000000", False, False),
    ("1023.99999", "1024", False, False),
    ("6.0001e4", "60000", False, False),
    ("60000.5", "60,000", False, False),
    ("2.00001", "2", False, False),
    ("5000\\%", "50", False, False),  # a % never turns an answer into a different integer
    ("0.5\\%", "50", False, False),
    ("0.5", "50\\%", False, True),  # ... but 50% is 0.5, exactly
    ("0.50001", "50\\%", False, False),
    ("27", "27.0", True, True),
    ("27.0", "27", False, True),  # exact value: lenient only
    ("6e4", "60000", False, True),
    # ... written as a number: an unevaluated expression is never credited for an integer (a GRPO policy on
    # the GPU farmed reward by boxing the problem's arithmetic: `\boxed{20 + 10}` for 30)
    ("20 + 10", "30", False, False),
    ("30 + 0", "30", False, False),
    ("3 \\times 10", "30", False, False),
    ("\\frac{60}{2}", "30", False, False),
    ("\\sqrt{900}", "30", False, False),
    ("2^{10}", "1024", False, False),
    ("6 \\times 10^4", "60000", False, False),
    ("x = 20 + 10", "30", False, False),
    ("(20 + 10, 5)", "(30, 5)", False, False),
    ("2^{9} \\cdot 2", "2^{10}", False, False),  # an integer-valued reference written as an expression
    ("1024", "2^{10}", True, True),
    ("2^{10}", "2^{10}", True, True),
    ("\\frac{1}{2}", "50\\%", False, True),  # a reduced fraction is a number (lenient: 50% is 0.5)
    ("1 + \\frac{1}{2}", "1.5", False, True),  # not an integer reference: value equality (lenient)
    ("1,000", "1000", True, True),
    ("1,000,000", "1000000", True, True),
    ("\\frac{1}{2}", "0.5", True, True),
    # tolerance only where the reference is not an integer
    ("0.33334", "\\frac{1}{3}", False, True),
    ("0.333", "\\frac{1}{3}", False, False),
    ("3.14159", "\\pi", False, True),
    ("0.866025", "\\frac{\\sqrt{3}}{2}", False, True),  # strict: PRM800K exactness, no decimal approximation
    # normalize(): matrix row breaks with spaces
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True, True),
    ("\\begin{pmatrix} 1 \\\\ 3 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False, False),
    (
        "\\begin{pmatrix} -1 & 2 \\\\ 0 & 5 \\end{pmatrix}",
        "\\begin{pmatrix}-1&2\\\\0&5\\end{pmatrix}",
        True,
        True,
    ),
    # normalize(): MATH's thousands separators
    ("14{,}916", "14916", True, True),
    ("14916", "14{,}916", True, True),
    ("11,\\! 111", "11111", True, True),
    # normalize(): a numeric left-hand side is not a variable
    ("11a+c", "7 = 11a+c", False, False),
    ("13 = 7", "7", False, False),
    ("\\frac{1}{2} = \\frac{1}{3}", "\\frac{1}{3}", False, False),
    ("a+b = 7", "7", False, True),  # a named quantity's value (lenient); its left side is never credited
    ("x = 3", "3", True, True),
    ("\\theta = 3", "3", True, True),
    ("f(x) = 2x", "2x", True, True),
    # normalize(): spaces are not squeezed before the thousands check
    ("32, 349", "32349", False, False),
    ("2, 500", "2500", False, False),
    ("0,111", "111", False, False),
    ("0,111", "0.111", False, False),  # a comma is never a decimal point
    # strict reads units, text suffixes and percentage words
    ("5", "5\\textnormal{ miles}", True, True),
    ("5", "5 \\text{ bowls}", True, True),
    ("5 \\text{ bowls}", "5", True, True),
    ("5", "5 pct", True, True),
    ("5", "5 percentage", True, True),
    ("12", "12 \\text{ cm}^2", True, True),
    # units are ignored: the question fixes the unit
    ("5 km", "5 m", True, True),
    # two named left-hand sides must agree
    ("y = 3", "x = 3", False, False),
    ("x = 3", "x = 3", True, True),
    ("k = 3", "3", True, True),
    # the last \\boxed wins (one value is graded, never both)
    ("\\boxed{5} \\boxed{6}", "6", True, True),
    ("\\boxed{5} \\boxed{6}", "5", False, False),
    # trailing text cannot smuggle a second value
    ("5 \\text{ (or maybe 6)}", "6", False, False),
    ("5 \\text{ dollars and 6 cents}", "6", False, False),
]


@pytest.mark.parametrize(("pred", "gold", "strict", "lenient"), PINNED)
def test_pinned_decisions(pred, gold, strict, lenient):
    assert is_equivalent(pred, gold, "strict") is strict
    assert is_equivalent(pred, gold, "lenient") is lenient


# One answer offering two values (a hedge) must not be credited for either of them.
HEDGES = [
    "A \\lor B",
    "A \\vee B",
    "A \\text{ or } B",
    "A or B",
    "A, B",
    "\\{A, B\\}",
    "A \\text{ and } B",
    "A; B",
    "A \\\\ B",
    "A \\text{ (or } B)",
    "A\\text{ (}B\\text{)}",
    "A \\pm B",
    "[A, B]",
    "x = A, x = B",
    "A \\approx B",
    "A \\neq B",
    "A|B",
    "A \\mid B",
    "A\\cup B",
    "A \\quad B",
]
HEDGE_PAIRS = [("5", "6"), ("12", "120"), ("7", "70"), ("\\frac{1}{2}", "\\frac{1}{3}"), ("0.5", "0.25")]


@pytest.mark.parametrize("form", HEDGES)
def test_hedged_answers_are_never_credited(form):
    for a, b in HEDGE_PAIRS:
        pred = form.replace("A", a).replace("B", b)
        for gold in (a, b):
            for mode in BOTH:
                assert not is_equivalent(pred, gold, mode), (pred, gold, mode)


def test_cli_lenient_rejects_integer_near_misses(tmp_path, capsys):
    rows = [
        ("\\boxed{60001}", "60000", False),
        ("\\boxed{1000001}", "1000000", False),
        ("\\boxed{59999.99}", "60000", False),
        ("\\boxed{27}", "27.0", True),
        ("\\boxed{1,000}", "1000", True),
        ("\\boxed{\\frac{1}{2}}", "0.5", True),
        ("\\boxed{20 + 10}", "30", False),
        ("\\boxed{30}", "30", True),
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"completion": c, "answer": a}) + "\n" for c, a, _ in rows))
    assert grade_main(["--mode", "lenient", str(src), str(out)]) == 0
    assert [g["correct"] for g in _jsonl(out)] == [ok for _, _, ok in rows]


# ---------------------------------------------------------- benchmark references graded against themselves
# The shapes of MATH-style final answers (values written for r1: MATH-500 is not shipped, docs/data.md).
LATEX_ANSWERS = [
    *("\\frac{7}{3}", "-\\frac{5}{12}", "\\frac14", "\\dfrac{9}{16}", "1\\frac{2}{7}", "42 \\frac{1}{3}"),
    *("\\sqrt{7}", "4\\sqrt{2}", "2 + 3\\sqrt{5}", "\\frac{\\sqrt{2}}{2}", "\\sqrt[3]{4}", "16 \\sqrt{3}"),
    *("7\\pi", "\\frac{25}{\\pi}", "-\\frac{\\pi}{3}", "144 \\pi", "\\frac{3\\pi}{4}"),
    *("40^\\circ", "135^\\circ", "2 - 7i", "3+4i", "-i", "5 - 11i"),
    *("(4,-2)", "(1, 2, 3)", "\\left( 2, \\frac{\\pi}{6} \\right)", "(-\\infty, 3]", "[-1, 4)"),
    "(5,\\infty)",
    *("\\left[ \\frac{1}{2}, 2 \\right]", "(-\\infty,-2) \\cup (2,\\infty)", "\\{1, 3, 5\\}"),
    *("\\begin{pmatrix} 3 \\\\ -1 \\end{pmatrix}", "\\begin{pmatrix} 1/3 \\\\ 2/3 \\\\ 0 \\end{pmatrix}"),
    *("\\begin{pmatrix} 1 & 0 \\\\ 2 & 1 \\end{pmatrix}", "x^2 - 4x + 4", "3y^3 + 2y - 9", "y = 3x - 2"),
    *("\\text{(C)}", "\\text{(A)}", "\\text{Maria}", "\\text{odd}", "B", "\\tan x", "2a^2"),
    *("1011_2", "312_4", "0.375", ".0045", "12.75", "-3.5", "2,\\!520", "34,200", "1{,}000"),
    *("72 \\text{ cm}^2", "6.5 \\text{ dollars}", "500 \\mbox{ feet}", "x = 9", "\\$18.90", "25\\%"),
    *("\\frac{1 + \\sqrt{5}}{2}", "\\sqrt{3} - 1", "2^{10}", "3^5 \\cdot 2", "e^2", "\\log_2 5"),
]


def _references() -> list[str]:
    golds = [row["answer"].rsplit("#### ", 1)[1].strip() for row in _jsonl(ASSETS / "gsm8k" / "test.jsonl")]
    assert len(golds) == 1319 and any("," in g for g in golds)
    if Path(MATH500_PATH).exists():  # MATH-500's own references, where a user has put it (docs/data.md)
        math500 = [row["answer"] for row in _jsonl(Path(MATH500_PATH))]
        assert len(math500) == 500
        golds += math500
    return golds + LATEX_ANSWERS


@pytest.mark.parametrize("mode", BOTH)
def test_every_benchmark_reference_matches_itself_boxed(mode):
    golds = _references()
    results = grade_batch([f"Therefore the answer is \\boxed{{{g}}}." for g in golds], golds, mode=mode)
    bad = [(g, r) for g, r in zip(golds, results, strict=True) if r.correct is not True]
    assert not bad, bad[:10]


def test_gsm8k_solution_text_as_reference():
    row = _jsonl(ASSETS / "gsm8k" / "test.jsonl")[0]
    assert is_equivalent("18", row["answer"]) is True  # the reference's final answer after "#### "


# ------------------------------------------------------------------ hostile input, timeouts, crashes
HOSTILE = {
    "power_tower": "\\boxed{9^{9^{9^{9}}}}",
    "nested_parens": "\\boxed{" + "(" * 10_000 + "1" + ")" * 10_000 + "}",
    "one_megabyte": "\\boxed{" + "1" * 1_000_000 + "}",
    "surrogate": "\\boxed{\ud800} \ud800",
    "nested_frac": "\\boxed{" + "\\frac{1}{" * 500 + "2" + "}" * 500 + "}",
    "brace_bomb": "\\boxed{" * 50_000,
}


def test_hostile_inputs_score_zero_within_timeout():
    timeout_s = 1.0
    names = list(HOSTILE)
    t0 = time.monotonic()
    results = grade_batch(
        [HOSTILE[n] for n in names] + ["\\boxed{7}"], ["7"] * (len(names) + 1), timeout_s=timeout_s
    )
    elapsed = time.monotonic() - t0
    for name, res in zip(names, results, strict=False):
        assert res.correct is False, name
    assert results[-1].correct is True and not results[-1].timed_out
    n_slow = sum(r.timed_out for r in results)
    # two workers share the slow items; each costs at most timeout_s (plus a fork when a worker is killed)
    assert elapsed < timeout_s * (n_slow / 2 + 1) + 2.0, (elapsed, n_slow)


def test_each_hostile_item_alone_returns_within_timeout():
    for name in ("power_tower", "nested_frac"):
        t0 = time.monotonic()
        [res] = grade_batch([HOSTILE[name]], ["7"], timeout_s=0.5)
        assert res.correct is False, name
        assert time.monotonic() - t0 < 0.5 + 1.0, name


def test_worker_crash_is_scored_zero_and_replaced():
    before = POOL.restarts
    tasks = [("grade", "\\boxed{1}", "1", "lenient", DEFAULT_CHAIN), ("_crash",)] * 2
    results = POOL.run(tasks, timeout_s=2.0)
    assert results[0] == ("1", True, False) and results[2] == ("1", True, False)
    assert results[1] == (None, False, True) and results[3] == (None, False, True)
    assert POOL.restarts >= before + 2
    assert grade_batch(["\\boxed{2}"], ["2"])[0].correct is True


def test_uninterruptible_hang_is_hard_killed_within_timeout():
    before = POOL.restarts
    tasks = [("_hang",), ("grade", "\\boxed{1}", "1", "strict", DEFAULT_CHAIN), ("_hang",)]
    t0 = time.monotonic()
    results = POOL.run(tasks, timeout_s=0.5, workers=1)
    assert results == [(None, False, True), ("1", True, False), (None, False, True)]
    assert time.monotonic() - t0 < 2 * 0.5 + 1.0
    assert POOL.restarts == before + 2
    assert all(r.correct for r in grade_batch(["\\boxed{1}", "\\boxed{2}"], ["1", "2"]))


def test_worker_killed_mid_item_is_scored_zero():
    grade_batch(["\\boxed{1}"], ["1"])  # pool is up
    pids = [w.pid for w in POOL._workers]

    def kill_soon():
        time.sleep(0.3)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    killer = threading.Thread(target=kill_soon)
    killer.start()
    t0 = time.monotonic()
    # against a reference that is not an integer the tower is evaluated (an integer one rejects it at once)
    results = grade_batch([HOSTILE["power_tower"], "\\boxed{3}"], ["7.5", "3"], timeout_s=5.0)
    killer.join()
    assert results[0].correct is False and results[0].timed_out
    assert results[1].correct is True
    assert time.monotonic() - t0 < 4.0
    # the idle worker killed between items is found dead at the next batch and costs no item
    again = grade_batch([f"\\boxed{{{k}}}" for k in range(8)], [str(k) for k in range(8)])
    assert all(r.correct and not r.timed_out for r in again)
    assert not set(pids) & {w.pid for w in POOL._workers}


def test_workers_killed_just_before_a_batch_cost_no_item():
    # SIGKILL returns before the worker's socket closes: fed at once, a dead worker took a chunk and its EOF
    # charged the chunk's first item as timed out — a correct answer scored 0 (79 of 320 items in this loop
    # before the chunk acknowledgement of r1.grading.pool). Only an item a worker had started may be charged.
    for _ in range(10):
        grade_batch(["\\boxed{1}", "\\boxed{2}"], ["1", "2"], workers=2)
        for w in POOL._workers:
            os.kill(w.pid, signal.SIGKILL)
        again = grade_batch([f"\\boxed{{{k}}}" for k in range(8)], [str(k) for k in range(8)], workers=2)
        assert all(r.correct and not r.timed_out for r in again)


def test_grade_batch_from_threads_and_outer_alarm_untouched():
    signal.alarm(100)
    try:
        out: dict[int, list] = {}

        def run(k):
            out[k] = grade_batch([f"\\boxed{{{k}}}", "\\boxed{0}"], [str(k), "1"])

        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all([r.correct for r in out[k]] == [True, False] for k in range(4))
        assert is_equivalent("1/2", "0.5") is True  # in-process call off the pool must not touch SIGALRM
    finally:
        remaining = signal.alarm(0)
    assert remaining > 90


def test_grade_batch_edge_cases():
    assert grade_batch([], []) == []
    with pytest.raises(ValueError, match="golds"):
        grade_batch(["a"], [])
    conversational = [[{"role": "assistant", "content": "<think>ok</think> \\boxed{4}"}]]
    assert grade_batch(conversational, ["4"])[0].correct is True
    assert grade_batch([None], ["4"])[0].correct is False


# ------------------------------------------------------------------ clustering
def test_cluster_answers_lenient_and_strict():
    answers = [
        "5",
        "5.0",
        "\\frac{10}{2}",
        "x=5",
        None,
        "6",
        "(1,2)",
        "(1, 2)",
        "\\frac{1}{2}",
        "0.5",
        "B",
        "(B)",
        "",
    ]
    assert cluster_answers(answers, "lenient") == [0, 0, 0, 0, None, 1, 2, 2, 3, 3, 4, 4, None]
    strict = cluster_answers(answers, "strict")
    assert strict[0] == strict[3] != strict[1]
    assert strict[8] == strict[9] and strict[6] == strict[7] and strict[4] is None
    assert cluster_answers([]) == []


def test_cluster_answers_agree_with_is_equivalent():
    answers = ["25", "025", "27", "27.0", "50\\%", "0.5", "50", "\\frac{2}{4}", "1,000", "1000", "1000.00001"]
    for mode in BOTH:
        ids = cluster_answers(answers, mode)
        for j, a in enumerate(answers):
            rep = next(i for i in range(j + 1) if ids[i] == ids[j])  # first member of a's cluster
            if rep < j:
                assert is_equivalent(a, answers[rep], mode), (mode, a, answers[rep])
            else:  # a started a cluster: no earlier representative accepts it
                reps = {answers[ids.index(c)] for c in set(ids[:j])}
                assert not any(is_equivalent(a, r, mode) for r in reps), (mode, a)


def test_cluster_answers_hostile_member_is_its_own_cluster():
    ids = cluster_answers(["9^{9^{9^{9}}}", "2", "2.0"], timeout_s=0.5)
    assert ids[1] == ids[2] != ids[0]


# ------------------------------------------------------------------ CLI
def test_cli_grades_and_summarises(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [
        {"completion": "so \\boxed{5}", "answer": "5"},
        {"prediction": "The answer is 50\\%", "answer": "0.5"},
        {"completion": "nothing", "answer": ""},
        {"completion": [{"role": "assistant", "content": "#### 1,000"}], "answer": 1000},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for mode, n_correct in (("strict", 2), ("lenient", 3)):
        out = tmp_path / f"{mode}.jsonl"
        assert grade_main(["--mode", mode, str(src), str(out)]) == 0
        graded = _jsonl(out)
        assert [g["correct"] for g in graded][2] is None
        assert all(g["mode"] == mode for g in graded)
        assert sum(g["correct"] is True for g in graded) == n_correct
        summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert summary["n"] == 4 and summary["n_unparseable_gold"] == 1 and summary["n_timeouts"] == 0
        assert summary["accuracy"] == pytest.approx(n_correct / 3)


def test_cli_bad_input_names_file_line_and_field(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"completion": "a"}\nnot json\n{"completion": 3, "answer": "1"}\n')
    out = tmp_path / "out.jsonl"
    assert grade_main([str(src), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{src}: line 1: missing field 'answer'" in err
    assert f"{src}: line 2: invalid JSON" in err
    assert f"{src}: line 3: field 'completion' must be a string" in err
    assert not out.exists()


def test_lenient_verdicts_do_not_depend_on_the_hash_seed():
    """Math-Verify's non-strict mode renames the prediction's variables by zipping two sets of symbols;
    under PYTHONHASHSEED 1 and 8 it swapped x and y and graded this pair False (True under 0): a flaky
    peer-suite test on 2026-12-05. r1 renames in name order (equivalence._align_variables)."""
    import subprocess
    import sys

    code = (
        "from r1.grading.equivalence import is_equivalent as e; "
        "print(e('y=-\\\\frac{1}{2}x+\\\\frac{3}{4}', '2x+4y-3=0', 'lenient'))"
    )
    verdicts = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "8")
    }
    assert verdicts == {"True"}
