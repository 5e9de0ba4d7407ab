"""Reward registry and the text checks behind each reward (real grading, no mocks)."""

from __future__ import annotations

import pytest

from r1.rewards import REWARDS, build_reward_funcs
from r1.text import has_think_format, language_consistency, readability, repetition_ratio, split_think


def _reward(name: str, **options):
    [fn], _ = build_reward_funcs([{"name": name, **options}])
    assert fn.__name__ == name
    return fn


def _conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# ------------------------------------------------------------------ registry
def test_registry_and_build():
    assert set(REWARDS) == {
        "accuracy",
        "format",
        "language_consistency",
        "repetition",
        "overlong",
        "random",
        "code",
        "helpfulness",
        "harmlessness",
        "readability",
    }
    funcs, weights = build_reward_funcs(
        [
            {"name": "accuracy", "weight": 1.0, "mode": "strict"},
            {"name": "format", "weight": 0.25},
            {"name": "format"},
        ]
    )
    assert [f.__name__ for f in funcs] == ["accuracy", "format", "format_2"]
    assert weights == [1.0, 0.25, 1.0]


def test_unknown_reward_and_option_errors():
    with pytest.raises(ValueError, match=r"'cosine'.*accuracy.*format"):
        build_reward_funcs([{"name": "cosine"}])
    with pytest.raises(ValueError, match=r"reward 'format': unknown option\(s\) \['modee'\]"):
        build_reward_funcs([{"name": "format", "modee": 1}])
    with pytest.raises(ValueError, match="mode"):
        build_reward_funcs([{"name": "accuracy", "mode": "fuzzy"}])
    with pytest.raises(ValueError, match="name"):
        build_reward_funcs([{"weight": 1.0}])


# ------------------------------------------------------------------ accuracy
def test_accuracy_reward_trl_call_signature():
    acc = _reward("accuracy")
    completions = [
        "<think>13 * 13 = 169</think> The answer is \\boxed{169}.",
        "<think>hmm</think> 13 * 13 = 192",
        "\\boxed{\\frac{1}{2}}",
        "\\boxed{5}",
        "#### 1,000",
    ]
    answers = ["169", "169", "0.5", "", "1000"]
    out = acc(
        completions=completions,
        prompts=["q"] * 5,
        completion_ids=[[1, 2]] * 5,
        answer=answers,
        trainer_state=None,
        log_extra=None,
    )
    assert out == [1.0, 0.0, 1.0, None, 1.0]
    logged: dict = {}
    acc(
        completions=completions[:2],
        answer=answers[:2],
        log_extra=lambda column, values: logged.setdefault(column, values),
        log_metric=lambda name, value: logged.setdefault(name, value),
    )
    assert logged == {"extracted_answer": ["169", None], "accuracy/timeout_frac": 0.0}
    assert acc([_conv("\\boxed{7}")], prompts=[[{"role": "user", "content": "q"}]], answer=["7"]) == [1.0]


def test_accuracy_modes_and_after_think():
    strict, lenient = _reward("accuracy", mode="strict"), _reward("accuracy", mode="lenient")
    assert strict(["\\boxed{27.0}"], answer=["27"]) == [0.0]
    assert lenient(["\\boxed{27.0}"], answer=["27"]) == [1.0]
    only_summary = _reward("accuracy", after_think=True)
    assert only_summary(["<think>\\boxed{3}</think> so 4"], answer=["3"]) == [0.0]
    assert only_summary(["<think>try 4</think> \\boxed{3}"], answer=["3"]) == [1.0]
    with pytest.raises(ValueError, match="answer"):
        lenient(["\\boxed{1}"])


# ------------------------------------------------------------------ format
@pytest.mark.parametrize(
    ("completion", "prompt", "expected"),
    [
        ("<think>\nLet me add.\n</think>\nThe answer is 4.", "What is 2+2?", 1.0),
        ("<think>reason</think><answer>4</answer>", "q", 1.0),
        ("<think></think> 4", "q", 0.0),  # empty reasoning
        ("<think>reason</think>   ", "q", 0.0),  # no answer after the block
        ("reason</think> 4", "q", 0.0),  # block never opened
        ("<think>a</think> b </think> c", "q", 0.0),  # two closing tags
        ("<think>a <think> b</think> c", "q", 0.0),  # nested open tag
        ("The answer is 4.", "q", 0.0),
        # prefilled prompts: the completion starts inside the think block
        ("Let me add.\n</think>\nThe answer is 4.", "Solve 2+2.\n<think>\n", 1.0),
        ("Let me add.</think> 4", "Solve 2+2. <think>", 1.0),
        ("<think>Let me add.</think> 4", "Solve 2+2. <think>\n", 1.0),
        ("Let me add. 4", "Solve 2+2.\n<think>\n", 0.0),
    ],
)
def test_format_reward(completion, prompt, expected):
    fmt = _reward("format")
    assert fmt([completion], prompts=[prompt]) == [expected]
    conversational_prompt = [{"role": "user", "content": "q"}, {"role": "assistant", "content": prompt}]
    assert fmt([_conv(completion)], prompts=[conversational_prompt]) == [expected]


def test_format_reward_options():
    tagged = _reward("format", require_answer_tag=True)
    assert tagged(["<think>r</think> 4", "<think>r</think><answer> 4 </answer>"], prompts=["q", "q"]) == [
        0.0,
        1.0,
    ]
    assert tagged(["<think>r</think><answer> </answer>"]) == [0.0]
    forced = _reward("format", prefilled=True)  # the chat template adds <think> itself
    assert forced(["reasoning</think> 4"], prompts=[[{"role": "user", "content": "q"}]]) == [1.0]


def test_split_think_and_has_think_format():
    assert split_think("<think> a </think> b ") == ("a", "b")
    assert split_think("a</think>b", prefilled=True) == ("a", "b")
    assert split_think("no block") == (None, "no block")
    assert has_think_format("<think>a</think>b") and not has_think_format("a</think>b")
    assert has_think_format("a</think>b", prefilled=True)


# ------------------------------------------------------------------ language consistency
def test_language_consistency_helper():
    assert language_consistency("<think>We add the two numbers carefully.</think> 4", "en") == 1.0
    assert language_consistency("<think>我们把两个数相加。</think> 4", "zh") == 1.0
    assert language_consistency("<think>我们把两个数相加。</think> 4", "en") == 0.0
    mixed = "<think>首先 compute 总和</think>"  # 4 CJK chars + 1 English word
    assert language_consistency(mixed, "zh") == pytest.approx(4 / 5)
    assert language_consistency(mixed, "en") == pytest.approx(1 / 5)
    # only the CoT counts; LaTeX and one-letter variables are not words
    assert (
        language_consistency("<think>设 $x^2 + \\frac{a}{b}$ 为 x 的值</think> The answer is 4", "zh-CN")
        == 1.0
    )
    assert language_consistency("no think block: all words are the CoT 答", "en") == pytest.approx(8 / 9)
    assert language_consistency("<think>1 + 1 = 2</think>", "zh") == 1.0  # no words at all
    assert (
        language_consistency("<think>Wir addieren die Zahlen</think>", "de") == 1.0
    )  # Latin-script language
    assert language_consistency("<think>Мы складываем числа</think>", "ru") == 1.0


def test_language_consistency_reward_uses_row_language_then_default():
    texts = ["<think>we add</think> 4", "<think>我们相加</think> 4"]
    assert _reward("language_consistency")(texts) == [1.0, 0.0]
    assert _reward("language_consistency", default_language="zh")(texts) == [0.0, 1.0]
    assert _reward("language_consistency")(texts, language=["en", "zh"]) == [1.0, 1.0]
    assert _reward("language_consistency")(texts, language=[None, "zh"]) == [1.0, 1.0]


# ------------------------------------------------------------------ repetition
def test_repetition_ratio_and_reward():
    assert repetition_ratio("the cat sat on the mat", 3) == 0.0
    assert repetition_ratio("a b", 3) == 0.0
    looped = "I think so. " * 50
    assert repetition_ratio(looped, 3) > 0.9
    assert repetition_ratio("重复重复重复重复重复重复", 3) > 0.5  # CJK characters are tokens
    rep = _reward("repetition", ngram_size=3, max_penalty=-0.5)
    out = rep(["the cat sat on the mat", looped, ""])
    assert out[0] == 0.0 and out[2] == 0.0
    assert -0.5 <= out[1] < -0.45
    with pytest.raises(ValueError, match="max_penalty"):
        build_reward_funcs([{"name": "repetition", "max_penalty": 1.0}])


# ------------------------------------------------------------------ overlong
def test_overlong_reward_uses_completion_ids():
    over = _reward("overlong", max_completion_length=100, soft_cache_length=20)
    ids = [[0] * n for n in (50, 80, 90, 100, 101)]
    assert over(["x"] * 5, completion_ids=ids) == [0.0, 0.0, -0.5, -1.0, -1.0]
    approx = _reward("overlong", max_completion_length=100, soft_cache_length=20, chars_per_token=1.0)
    assert approx(["x" * 90]) == [-0.5]
    with pytest.raises(ValueError, match="soft_cache_length"):
        build_reward_funcs([{"name": "overlong", "max_completion_length": 10, "soft_cache_length": 20}])


# ------------------------------------------------------------------ readability
GOOD = (
    "<think>\nFirst, I add the two numbers. Two plus two gives four.\n\n"
    "Then I check the result by counting. It is still four.\n</think>\nThe answer is 4."
)
RUN_ON = (
    "<think>" + " ".join(f"and then step {i} follows from the previous one" for i in range(60)) + "</think> 4"
)
LOOPED = "<think>" + "Wait, let me check again. " * 60 + "</think> 4"


def test_readability_orders_texts_and_is_bounded():
    good, run_on, looped = readability(GOOD), readability(RUN_ON), readability(LOOPED)
    assert 0.9 <= good <= 1.0
    assert 0.0 <= run_on < 0.5
    assert 0.0 <= looped < good - 0.3
    assert readability("") == 0.0
    assert _reward("readability")([GOOD, _conv(RUN_ON)]) == [good, run_on]


# ---------------------------------------------------------- hostile text: in-process rewards stay linear
def test_in_process_rewards_are_fast_on_hostile_text():
    import time

    hostile = [
        "\\(" * 200_000,
        "<answer>" * 100_000 + "x",
        "$$" + "a" * 1_000_000,
        "\n \n" * 300_000,
        "<think>" + "我" * 500_000 + "</think>",
        "\ud800" * 1000,
    ]
    funcs, _ = build_reward_funcs(
        [
            {"name": "format", "require_answer_tag": True},
            {"name": "language_consistency"},
            {"name": "repetition"},
            {"name": "overlong"},
            {"name": "readability"},
        ]
    )
    t0 = time.monotonic()
    for fn in funcs:
        out = fn(hostile, prompts=["q"] * len(hostile))
        assert len(out) == len(hostile) and all(isinstance(x, float) for x in out)
    assert time.monotonic() - t0 < 15.0
