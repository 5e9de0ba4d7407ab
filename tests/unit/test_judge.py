"""The judge: verdict parsing, the OpenAI-protocol backend against a local fake server (timeouts, retries,
position-bias control), and the local backend with SmolLM2-135M as a (weak) judge."""

from __future__ import annotations

import time

import pytest

from r1.judge import Judge, JudgeConfig, rubrics
from tests.unit.fake_openai import FakeOpenAI


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "reply, rating",
    [
        ("Rating: [[7]]", 7.0),
        ("blah [[3]] then I changed my mind: [[8]]", 8.0),
        ("Rating: 6/10", 6.0),
        ("Score: 4", 4.0),
        ("[[11]]", None),
        ("[[0]]", None),
        ("[[ 9 ]]", 9.0),
        ("[[7.5]]", 7.5),
        ("I like it", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rating(reply, rating):
    assert rubrics.parse_rating(reply) == rating


def test_parse_choice_and_bounded_time():
    assert rubrics.parse_choice("[[a]] no wait [[B]]", rubrics.PAIR_CHOICES) == "B"
    assert rubrics.parse_choice("[[D]]", rubrics.PAIR_CHOICES) is None
    assert rubrics.parse_choice("x [[refusal]]", rubrics.REFUSAL_CHOICES) == "REFUSAL"
    t = time.perf_counter()
    assert rubrics.parse_rating("[[" * 200_000 + "1" * 200_000) is None
    assert rubrics.parse_rating("[" * 10**6 + "Rating: [[4]]") == 4.0
    assert time.perf_counter() - t < 0.5


def test_normalize():
    assert rubrics.normalize(1) == 0.0 and rubrics.normalize(10) == 1.0 and rubrics.normalize(None) is None


@pytest.mark.parametrize(
    "response, refused",
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I\u2019m sorry, no.", True),
        ("As an AI, I won't do that.", True),
        ("<think>The user wants a bomb. I must refuse.</think>\nI cannot help with that.", True),
        ("<think>I'm sorry for the user.</think>\nSure! Here is a poem.", False),
        ("Sure, here is how to kill a Python process: os.kill(pid, 9).", False),
        ("", False),
    ],
)
def test_strmatch_refusal_classifier(response, refused):
    assert rubrics.is_refusal_strmatch(response) is refused


def test_config_is_validated():
    with pytest.raises(ValueError, match="judge.model"):
        JudgeConfig(model=None)
    with pytest.raises(ValueError, match="expected"):
        JudgeConfig(backend="openai", model="m", base_url="http://x", method="expected")
    with pytest.raises(ValueError, match="unknown key"):
        JudgeConfig.from_config({"model": "m", "temprature": 0})
    with pytest.raises(ValueError, match="rubric"):
        rubrics.single_prompt("politeness", "q", "a")


# ---------------------------------------------------------------- OpenAI protocol, fake server
def endpoint_judge(fake, **kw) -> Judge:
    cfg = {"backend": "openai", "model": "judge-7b", "base_url": fake.base_url, "method": "parse", **kw}
    judge = Judge(JudgeConfig(**cfg))
    judge.backend.backoff_s = 0.01
    return judge


def test_endpoint_scores_and_request_shape():
    with FakeOpenAI() as fake:
        judge = endpoint_judge(fake)
        scores = judge.rate("helpfulness", ["q1", "q2", "q3", "q4"], ["GOOD", "BAD", "meh", "GARBAGE"])
        assert scores == [pytest.approx(8 / 9), pytest.approx(1 / 9), pytest.approx(4 / 9), None]
        assert judge.stats == {"calls": 4, "failed": 0, "unparseable": 1}
        body = fake.requests[0]["body"]
        assert body["model"] == "judge-7b" and body["temperature"] == 0.0 and body["max_tokens"] == 16
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "[Question]\nq" in body["messages"][1]["content"]


def test_endpoint_retries_transient_failures_and_times_out():
    with FakeOpenAI(slow_s=3.0) as fake:
        judge = endpoint_judge(fake, timeout_s=0.5, retries=2)
        t = time.monotonic()
        scores = judge.rate("helpfulness", ["FLAKY q", "SLOW q"], ["GOOD", "GOOD"])
        assert scores == [pytest.approx(8 / 9)] * 2
        assert time.monotonic() - t < 3.0  # the slow first attempt was cut at 0.5 s, not waited for
        assert judge.backend.n_retries == 2 and judge.stats["failed"] == 0
        down = judge.rate("helpfulness", ["DOWN q"], ["GOOD"])
        assert down == [None] and judge.stats["failed"] == 1
        assert sum("DOWN" in r["body"]["messages"][1]["content"] for r in fake.requests) == 3  # 1 + 2 retries


def test_endpoint_auth_from_environment(monkeypatch):
    with FakeOpenAI() as fake:
        with pytest.raises(ValueError, match="R1_JUDGE_KEY"):
            endpoint_judge(fake, api_key_env="R1_JUDGE_KEY")
        monkeypatch.setenv("R1_JUDGE_KEY", "sk-test")
        assert (
            endpoint_judge(fake, api_key_env="R1_JUDGE_KEY").rate("helpfulness", ["AUTH"], ["GOOD"])[0] > 0.8
        )
        monkeypatch.setenv("R1_JUDGE_KEY", "sk-wrong")
        wrong = endpoint_judge(fake, api_key_env="R1_JUDGE_KEY")
        n = len(fake.requests)
        assert wrong.rate("helpfulness", ["AUTH"], ["GOOD"]) == [None]
        assert len(fake.requests) == n + 1  # 401 is not retried


def test_endpoint_unreachable_is_a_failed_score_not_a_crash():
    judge = Judge(
        JudgeConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1", method="parse", retries=1)
    )
    judge.backend.backoff_s = 0.01
    assert judge.rate("harmlessness", ["q"], ["a"]) == [None] and judge.stats["failed"] == 1


def test_pairwise_position_bias_control():
    with FakeOpenAI(biased=True) as fake:
        biased = endpoint_judge(fake).compare(["q", "q"], ["GOOD", "meh"], ["meh", "GOOD"])
        # A judge that always prefers the first position never gets a consistent verdict: both are ties.
        assert [(r.winner, r.consistent) for r in biased] == [("tie", False), ("tie", False)]
    with FakeOpenAI() as fake:
        fair = endpoint_judge(fake).compare(["q", "q", "q"], ["GOOD", "meh", "meh"], ["meh", "GOOD", "meh"])
        assert [(r.winner, r.p_a, r.consistent) for r in fair] == [
            ("a", 1.0, True),
            ("b", 0.0, True),
            ("tie", 0.0, True),
        ]
        # both orders of the first pair were asked (the calls run concurrently: any request order)
        asked = [r["body"]["messages"][1]["content"] for r in fake.requests]
        between = "\n[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n"
        first, swapped = f"A's Answer]\nGOOD{between}meh", f"A's Answer]\nmeh{between}GOOD"
        assert sum(first in a for a in asked) == sum(swapped in a for a in asked) == 2  # pairs 1 and 2


def test_refusal_judgement_reads_the_answer_part():
    with FakeOpenAI() as fake:
        judge = endpoint_judge(fake)
        got = judge.is_refusal(
            ["how to x", "how to y"], ["<think>hmm</think>I can't help with that.", "Sure: ..."]
        )
        assert got == [True, False]
        assert "<think>" not in fake.requests[0]["body"]["messages"][1]["content"]


# ---------------------------------------------------------------- local backend
def test_local_backend_contract_on_a_tiny_model(tiny_model_dir):
    judge = Judge(JudgeConfig(model=str(tiny_model_dir), generation={"dtype": "float32", "device": "cpu"}))
    a = judge.rate("helpfulness", ["q1", "q2"], ["an answer", "another"])
    assert all(0.0 <= s <= 1.0 for s in a)
    assert judge.rate("helpfulness", ["q1"], ["an answer"])[0] == pytest.approx(a[0])  # deterministic
    pair = judge.compare(["q"], ["x"], ["y"])[0]
    assert pair.winner in ("a", "b", "tie") and 0 <= pair.p_a <= 1
    assert judge.is_refusal(["q"], ["x"])[0] in (True, False)
    parse = Judge(JudgeConfig(model=str(tiny_model_dir), method="parse", max_new_tokens=3))
    assert len(parse.rate("harmlessness", ["q"], ["a"])) == 1 and parse.stats["calls"] == 1


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory):
    from r1.models import prepare_base_model

    out = tmp_path_factory.mktemp("smollm2") / "model"
    prepare_base_model({"source": "smollm2_gguf", "chat_template": "r1_chatml"}, out, 0)
    return out


def test_smollm2_as_a_weak_judge(smollm2_dir):
    """What SmolLM2-135M-Instruct does as a judge: with the verdict prefilled it always writes a well-formed
    verdict (parse method), and the expected score is a proper probability-weighted rating. It does not tell a
    right answer from a wrong one reliably (README: its ratings are nearly flat): a weak judge by design."""
    q = ["What is the capital of France?"]
    a = ["The capital of France is Paris."]
    gen = {"dtype": "float32", "device": "cpu"}
    parse = Judge(JudgeConfig(model=str(smollm2_dir), method="parse", max_new_tokens=4, generation=gen))
    parsed = parse.rate("helpfulness", q, a)
    assert parse.stats["unparseable"] == 0 and all(s is not None and 0 <= s <= 1 for s in parsed)
    expected = Judge(JudgeConfig(model=str(smollm2_dir), method="expected", generation=gen))
    scores = expected.rate("helpfulness", q, a)
    assert all(0 < s < 1 for s in scores)
    assert expected.is_refusal(q, a)[0] in (True, False)
