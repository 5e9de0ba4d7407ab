"""The rewards beyond math: `code` (sandboxed tests) and the judge's `helpfulness` / `harmlessness`, on a
mixed batch of math, code and open-ended rows as TRL passes it (dataset columns as keyword arguments)."""

from __future__ import annotations

import pytest

from r1.rewards import build_reward_funcs
from tests.unit.fake_openai import FakeOpenAI

SANDBOX = {"wall_time_s": 5, "cpu_time_s": 5, "workers": 2}


def test_code_reward_on_a_mixed_batch():
    (fn,), _ = build_reward_funcs([{"name": "code", "sandbox": SANDBOX}])
    completions = [
        [
            {
                "role": "assistant",
                "content": "<think>x</think>\n```python\ndef add(a, b):\n    return a + b\n```",
            }
        ],
        [{"role": "assistant", "content": "```python\ndef add(a, b):\n    return a - b\n```"}],
        [{"role": "assistant", "content": "no code at all"}],
        [{"role": "assistant", "content": "```python\nwhile True:\n    pass\n```"}],
        [{"role": "assistant", "content": "The answer is \\boxed{4}."}],
    ]
    tests = [["assert add(1, 2) == 3", "assert add(0, 0) == 0"]] * 4 + [[]]
    logged = {}
    got = fn(
        completions,
        tests=tests,
        prefix=[""] * 5,
        entry_point=[""] * 5,
        answer=["", "", "", "", "4"],
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    assert got == [1.0, 0.0, 0.0, 0.0, None]  # the math row is not the code reward's business
    assert logged["code/no_code_frac"] == 0.25 and logged["code/timeout_frac"] == pytest.approx(1 / 3)
    (partial,), _ = build_reward_funcs([{"name": "code", "sandbox": SANDBOX, "partial": True}])
    half = "```python\ndef add(a, b):\n    return 0\n```"
    assert partial([half], tests=[tests[0]]) == [0.5]


def test_judge_rewards_score_open_rows_only():
    with FakeOpenAI() as fake:
        judge = {"backend": "openai", "model": "j", "base_url": fake.base_url, "method": "parse"}
        funcs, weights = build_reward_funcs(
            [{"name": "helpfulness", "judge": judge}, {"name": "harmlessness", "judge": judge, "weight": 0.5}]
        )
        helpful, harmless = funcs
        prompts = [[{"role": "user", "content": q}] for q in ("Write a poem", "2+2?", "Tell a story")]
        completions = [
            [{"role": "assistant", "content": "<think>BAD thoughts</think>GOOD poem"}],
            [{"role": "assistant", "content": "4"}],
            [{"role": "assistant", "content": "BAD story"}],
        ]
        kwargs = {"prompts": prompts, "answer": ["", "4", ""], "tests": [[], [], []]}
        assert helpful(completions, **kwargs) == [pytest.approx(8 / 9), None, pytest.approx(1 / 9)]
        # harmlessness reads the whole response (the paper: reasoning and summary): BAD in the thoughts counts
        assert harmless(completions, **kwargs) == [pytest.approx(8 / 9), None, pytest.approx(1 / 9)]
        judged = [r["body"]["messages"][1]["content"] for r in fake.requests]
        assert sum("<think>" in j for j in judged) == 1 and weights == [1.0, 0.5]


def test_judge_reward_needs_a_judge():
    (fn,), _ = build_reward_funcs([{"name": "helpfulness"}])  # what the config check at DAG load builds
    with pytest.raises(ValueError, match="needs a judge"):
        fn([[{"role": "assistant", "content": "hi"}]], prompts=[[{"role": "user", "content": "hello"}]])
