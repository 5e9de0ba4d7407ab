"""Measure r1's readability score on human-written solutions and on synthetic unreadable text, and print the
cold-start threshold those distributions give (docs/data.md, "Readability threshold").

    python scripts/calibrate_readability.py [--math PATH/math_train.jsonl] [--aime PATH/aime.json]

Human sets: GSM8K train (shipped) and, when given, MATH train and AIME 1983-2023, each solution rewritten into
the cold-start format exactly as the seed sources are (`<think>` reasoning `</think>` summary). Unreadable
sets (seeded): short nonsense sentences and word lists drawn from the GSM8K vocabulary, "Wait, let me check
again." loops and a run-on sentence. The threshold is the largest multiple of 0.05 that keeps at least 95 % of
every human set and is above every unreadable sample.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from r1.data import gsm8k_final_answer
from r1.readability import readability
from r1.sft_data import seed_completion, solution_to_reasoning

GSM8K = Path(__file__).resolve().parents[1] / "r1" / "assets" / "data" / "gsm8k" / "train.jsonl"
SUMMARY = "\n</think>\n\nThe answer is $\\boxed{5}$."


def human_sets(math_path: str | None, aime_path: str | None) -> dict[str, list[str]]:
    rows = [json.loads(line) for line in GSM8K.read_text(encoding="utf-8").splitlines()]
    sets = {
        "gsm8k_train": [
            seed_completion(solution_to_reasoning(r["answer"], "gsm8k"), gsm8k_final_answer(r["answer"]))
            for r in rows
        ]
    }
    if math_path:
        rows = [json.loads(line) for line in Path(math_path).read_text(encoding="utf-8").splitlines()]
        sets["math_train"] = [
            seed_completion(solution_to_reasoning(r["solution"], "latex"), r["answer"]) for r in rows
        ]
    if aime_path:
        rows = json.loads(Path(aime_path).read_text(encoding="utf-8"))
        sets["aime_1983_2023"] = [
            seed_completion(solution_to_reasoning(r["solution"], "integer"), r["answer"]) for r in rows
        ]
    return sets


def unreadable_sets(human: list[str], n: int = 300, seed: int = 0) -> dict[str, list[str]]:
    rng = random.Random(seed)
    vocab = sorted({w for text in human[:2000] for w in text.split() if w.isalpha()})

    def sentence(k: int) -> str:
        words = [rng.choice(vocab) for _ in range(k)]
        return " ".join([words[0].capitalize(), *words[1:]]) + "."

    return {
        "short nonsense sentences (1-3 words)": [
            "<think>\n" + " ".join(sentence(rng.randint(1, 3)) for _ in range(rng.randint(5, 15))) + SUMMARY
            for _ in range(n)
        ],
        "word list (60 words, one sentence)": [
            "<think>\n" + " ".join(rng.choice(vocab) for _ in range(60)) + "." + SUMMARY for _ in range(n)
        ],
        "loop ('Wait, let me check again.' x 10-40)": [
            "<think>\n" + "Wait, let me check again. " * rng.randint(10, 40) + SUMMARY for _ in range(n)
        ],
        "run-on sentence (15-60 clauses)": [
            "<think>\n"
            + " ".join(f"and then step {i} follows from the previous one" for i in range(rng.randint(15, 60)))
            + SUMMARY
            for _ in range(n)
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--math", help="MATH train jsonl (not shipped; where to get it: docs/data.md)")
    ap.add_argument("--aime", help="AIME 1983-2023 json (not shipped; where to get it: docs/data.md)")
    args = ap.parse_args()
    human = human_sets(args.math, args.aime)
    unreadable = unreadable_sets(human["gsm8k_train"])
    pcts = (1, 2, 5, 10, 25, 50)
    print(f"{'set':42s} {'n':>5s}  " + "  ".join(f"p{p:<4d}" for p in pcts) + "  max")
    scores = {}
    for name, texts in {**human, **unreadable}.items():
        s = np.array([readability(t) for t in texts])
        scores[name] = s
        cells = "  ".join(f"{np.percentile(s, p):5.3f}" for p in pcts)
        print(f"{name:42s} {len(s):5d}  {cells}  {s.max():5.3f}")
    worst_unreadable = max(float(scores[k].max()) for k in unreadable)
    best = None
    for t in np.arange(0.05, 1.0, 0.05):
        keeps = {k: float((scores[k] >= t).mean()) for k in human}
        if all(v >= 0.95 for v in keeps.values()) and t > worst_unreadable:
            best = (round(float(t), 2), keeps)
    if best is None:
        print("no threshold keeps 95% of every human set and rejects every unreadable sample")
        return
    t, keeps = best
    kept = ", ".join(f"{k} {v:.1%}" for k, v in keeps.items())
    print(
        f"\nthreshold (min_readability): {t}  kept: {kept}; highest unreadable score {worst_unreadable:.3f}"
    )


if __name__ == "__main__":
    main()
