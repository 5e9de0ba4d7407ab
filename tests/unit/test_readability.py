"""Readability (r1/readability.py): nonsense, loops and run-on text fail the cold-start threshold;
human-written solutions pass it. The threshold (0.65) was set by scripts/calibrate_readability.py
(docs/data.md)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from r1.data import gsm8k_final_answer
from r1.readability import readability, readability_parts
from r1.sft_data import seed_completion, solution_to_reasoning

REPO = Path(__file__).resolve().parents[2]
THRESHOLD = yaml.safe_load((REPO / "config.yaml").read_text())["cold_start"]["filters"]["min_readability"]
SUMMARY = "\n</think>\n\nThe answer is $\\boxed{5}$."


def test_threshold_is_the_calibrated_one():
    assert THRESHOLD == 0.65


@pytest.mark.parametrize(
    "text",
    [
        "<think>\nCat blue. Run fast. Yes. Sky eats. Green dog jumps. No.\n</think>\n\nThe answer is 5.",
        "<think>\nMarbles Billy Mel. Missed capsules Wally. Plow Arlette Valerie. Giving.\n</think>\n\n"
        "The answer is 5.",
        "Apple. Banana. Seven. Window. Ocean. Chair.",
        "<think>\n" + "Wait, let me check again. " * 10 + SUMMARY,
        "<think>\n"
        + " ".join(f"and then step {i} follows from the previous one" for i in range(20))
        + SUMMARY,
        "<think>\napplying birdseed saving charge trophies retail guests usage stairs audiobooks broomsticks "
        "theater pencils oranges garden minutes tickets dollars cookies pages\n" + SUMMARY,
        "",
        "$x^2 + 1$",
    ],
)
def test_unreadable_text_fails_the_threshold(text):
    assert readability(text) < THRESHOLD


def test_nonsense_short_sentences_never_pass():
    rng = random.Random(7)
    vocab = "cat blue run fast sky green dog jumps red apple window ocean chair marble seven lamp".split()
    for _ in range(200):
        body = " ".join(
            " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3))).capitalize() + "."
            for _ in range(rng.randint(4, 12))
        )
        assert readability(f"<think>\n{body}{SUMMARY}") < THRESHOLD, body


def test_human_solutions_pass():
    rows = [json.loads(x) for x in (REPO / "r1/assets/data/gsm8k/train.jsonl").read_text().splitlines()[:500]]
    texts = [
        seed_completion(solution_to_reasoning(r["answer"], "gsm8k"), gsm8k_final_answer(r["answer"]))
        for r in rows
    ]
    kept = sum(readability(t) >= THRESHOLD for t in texts) / len(texts)
    assert kept >= 0.98, kept
    math = (
        "<think>\nFor the piecewise function to be continuous, the cases must meet at $2$ and $-2$. "
        "For example, $ax+3$ and $x-5$ must be equal when $x=2$. This implies $a(2)+3=2-5$, which we solve "
        "to get $a=-3$.\nWe can write\n\\begin{align*}\na + b &= -3 + 3 \\\\\n&= 0.\n\\end{align*}\n"
        "</think>\n\nThe answer is $\\boxed{0}$."
    )
    assert readability(math) >= THRESHOLD


def test_currency_dollars_are_not_math_and_parts_are_bounded():
    text = "Weng earns $12 an hour. She worked 50 minutes, so she earned 0.2 x 50 = $10."
    parts = readability_parts(text)
    assert parts["function_words"] == 1.0 and readability(text) == 1.0
    assert all(0.0 <= v <= 1.0 for v in parts.values())
    # other languages are not judged by English function words
    assert readability_parts("Der Hund läuft schnell über die Straße.", "de")["function_words"] == 1.0
