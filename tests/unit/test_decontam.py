"""10-gram decontamination: planted eval questions are caught with the right id, unrelated text is not."""

from __future__ import annotations

import random
import time

import pytest

from r1.benchmarks import DEFAULT_BENCHMARKS, load_benchmark
from r1.data import benchmark_items
from r1.decontam import (
    build_ngram_index,
    find_contamination,
    find_contamination_batch,
    normalize_words,
)


@pytest.fixture(scope="module")
def gsm8k_items() -> dict[str, str]:
    df = load_benchmark(DEFAULT_BENCHMARKS["gsm8k"])
    return {f"gsm8k:{i}": p for i, p in zip(df["id"], df["problem"], strict=True)}


@pytest.fixture(scope="module")
def index(gsm8k_items):
    return build_ngram_index(gsm8k_items, n=10)


def test_normalize_words():
    assert normalize_words("Janet’s ducks, LAY 16 eggs!") == ["janet", "s", "ducks", "lay", "16", "eggs"]
    assert normalize_words("Find $\\frac{1}{2}+x_1$.") == ["find", "1", "2", "x", "1"]
    assert normalize_words("Ça coûte 3€ — très cher") == ["ça", "coûte", "3", "très", "cher"]
    assert normalize_words("") == []
    # The ASCII fast path and the Unicode path agree.
    assert normalize_words("Hello, World: 3.5!") == normalize_words("Hello, World: 3.5! ’")


def test_planted_gsm8k_question_caught_with_right_id(gsm8k_items, index):
    question = gsm8k_items["gsm8k:17"]
    mangled = question.upper().replace(",", " ;").replace(".", "!").replace(" ", "  ")
    training_text = f"Here is a practice problem for you.\n\n{mangled}\n\nLet's think step by step."
    assert find_contamination(training_text, index) == "gsm8k:17"
    # Only a 10-word window of it is enough.
    window = " ".join(normalize_words(question)[3:13])
    assert find_contamination(f"blah blah {window.title()} more words", index) == "gsm8k:17"


def test_unrelated_text_not_flagged(index):
    text = (
        "The mitochondria is the powerhouse of the cell, and photosynthesis converts light energy into "
        "chemical energy stored in glucose molecules within the chloroplasts of green plants."
    )
    assert find_contamination(text, index) is None
    # Nine consecutive words of an eval question are not a 10-gram.
    nine = " ".join(normalize_words("Janet’s ducks lay 16 eggs per day. She eats three for breakfast")[:9])
    text = nine + " and then something else entirely different happens here"
    assert find_contamination(text, index) is None


def test_short_texts_match_only_whole_items():
    idx = build_ngram_index({"b:0": "What is 2 + 3?", "b:1": " ".join(f"w{i}" for i in range(12))}, n=10)
    assert find_contamination("what is 2 3", idx) == "b:0"  # whole normalised text equal
    assert find_contamination("WHAT IS 2+3 ???", idx) == "b:0"
    assert find_contamination("what is 2", idx) is None  # a prefix is not the item
    # No substring rule for short items.
    assert find_contamination("So, what is 2 + 3? It is 5, and we are done now.", idx) is None
    assert find_contamination("w0 w1 w2 w3 w4 w5 w6 w7 w8", idx) is None  # < n words, not a whole item
    assert find_contamination("x w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 y", idx) == "b:1"
    assert find_contamination("", idx) is None
    with pytest.raises(ValueError):
        find_contamination("text", idx, n=8)


def test_a_short_item_on_its_own_line_of_a_prompt_is_caught():
    # A cold-start seed's prompt is the problem + a newline + the instruction (r1.prompts.user_message): the
    # E2 run of 2026-12-03 trained on held-out arith_l1 questions because only the whole prompt was compared.
    from r1.prompts import user_message

    idx = build_ngram_index({"arith_l1:7": "What is 20 + 10?"}, n=10)
    assert find_contamination(user_message("What is 20 + 10?"), idx) == "arith_l1:7"
    assert find_contamination("Solve this.\nwhat is 20+10\n\nThen explain.", idx) == "arith_l1:7"
    assert find_contamination(user_message("What is 20 + 11?"), idx) is None
    assert find_contamination("So, what is 20 + 10? Thirty.\nNext line.", idx) is None  # part of a line: no


def test_benchmark_items_include_solutions_and_batch_speed():
    gsm8k = {**DEFAULT_BENCHMARKS["gsm8k"].to_dict(), "solution_field": "answer", "limit": 4}
    toy = {
        "name": "latex_toy",
        "path": "tests/configs/latex_toy.jsonl",
        "problem_field": "problem",
        "answer_field": "answer",
        "answer_format": "latex",
        "id_field": "unique_id",
        "solution_field": "solution",
    }
    items = benchmark_items([gsm8k, toy])
    assert len(items) == 2 * 1319 + 2 * 4  # every question and solution, not only the `limit` rows
    assert "gsm8k:0" in items and "gsm8k:0:solution" in items and "latex_toy:toy/algebra/2:solution" in items
    idx = build_ngram_index(items, n=10)
    # A sentence from a GSM8K *solution* (not the question) is caught.
    assert (
        find_contamination("She makes 9 * 2 = $18 every day at the farmer’s market, the solution says.", idx)
        == "gsm8k:0:solution"
    )
    rng = random.Random(0)
    vocab = sorted({w for t in list(items.values())[:200] for w in normalize_words(t)})
    texts = [" ".join(rng.choice(vocab) for _ in range(200)) for _ in range(2000)]
    texts[123] += " " + items["gsm8k:1000"]
    t0 = time.perf_counter()
    hits = find_contamination_batch(texts, idx)
    elapsed = time.perf_counter() - t0
    assert [i for i, h in enumerate(hits) if h] == [123]
    assert hits[123] == "gsm8k:1000"
    assert elapsed < 10.0  # ~0.2 s on an idle core; generous for a shared machine


def test_gsm8k_calculator_annotations_are_noise():
    assert normalize_words("makes 9 * 2 = $<<9*2=18>>18 every") == ["makes", "9", "2", "18", "every"]


def test_overlap_is_per_item_and_min_overlap_spares_boilerplate():
    from r1.decontam import contamination_score

    boiler = "where m and n are relatively prime positive integers find m n"
    idx = build_ngram_index(
        {
            "aime:1": f"The probability that the die shows six twice is m over n {boiler}",
            "aime:1:solution": (
                "Each roll is independent so the probability is one over thirty six and m n is 37"
            ),
        },
        n=10,
    )
    other = f"Circles of radii five and eight are mutually externally tangent with radius m over n {boiler}"
    item, overlap = contamination_score(other, idx)
    assert item == "aime:1" and 0 < overlap < 0.5
    assert find_contamination(other, idx) == "aime:1"  # any shared 10-gram (the paper's rule)
    assert find_contamination(other, idx, min_overlap=0.5) is None
    copy = "Q: The probability that the die shows six twice is m over n " + boiler
    assert contamination_score(copy, idx) == ("aime:1", 1.0)
    solution_copy = "Each roll is independent so the probability is one over thirty six and m n is 37 indeed"
    assert find_contamination(solution_copy, idx, min_overlap=0.5) == "aime:1:solution"
