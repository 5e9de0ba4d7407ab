"""A judge (generative reward model) for responses without a reference answer.

    judge = Judge(JudgeConfig(backend="local", model="results/base_model/model"))
    judge.rate("helpfulness", questions, answers)        # [0, 1] per answer, None when the judge failed
    judge.compare(questions, answers_a, answers_b)       # pairwise, both orders (position-bias control)
    judge.is_refusal(questions, answers)                  # refusal classification (safety evals)

Used by the generated non-reasoning / safety SFT sets (keep judged-good responses), as the `helpfulness` and
`harmlessness` rewards in RL, and in the safety and open-ended evals. Two ways to get a verdict:

- `method: parse`: the judge writes a reply ("Rating: [[7]]"), parsed (r1.judge.rubrics); any backend. A local
  judge's reply is prefilled up to the verdict ("Rating: [[") unless `explain` is set: SmolLM2-135M then
  writes a well-formed verdict every time, and none without the prefill.
- `method: expected` (local transformers models only): no reply is generated; the probability of every verdict
  after "Rating: [[" is read off the model (teacher forcing) and the score is the expectation over 1-10. A
  weak judge that never writes a well-formed verdict still ranks answers.

Backends: `local` (an HF directory, through r1.generation) and `openai` (any OpenAI-compatible
`/chat/completions` endpoint: `vllm serve`, TGI, OpenAI), with a per-call deadline and retries.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field

from r1.judge import rubrics
from r1.judge.backends import JudgeError, LocalBackend, OpenAIBackend

log = logging.getLogger(__name__)

BACKENDS = ("local", "openai")
METHODS = ("expected", "parse")


@dataclass(frozen=True)
class JudgeConfig:
    backend: str = "local"
    model: str | None = None  # local: an HF directory; openai: the served model's name
    base_url: str | None = None  # openai: e.g. http://localhost:8000/v1
    api_key_env: str | None = None  # openai: the NAME of the environment variable holding the key
    method: str = "expected"  # expected (local transformers only) | parse
    explain: bool = False  # parse: ask for a short explanation before the verdict
    max_new_tokens: int = 16  # parse: reply length (raise it with explain)
    timeout_s: float = 60.0  # openai: per call, connect + reply
    retries: int = 2  # openai
    concurrency: int = 4  # openai: calls in flight
    generation: dict = field(
        default_factory=dict
    )  # local: r1.generation options (backend, dtype, device, ...)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"judge.backend: {self.backend!r} is not one of {BACKENDS}")
        if self.method not in METHODS:
            raise ValueError(f"judge.method: {self.method!r} is not one of {METHODS}")
        if not self.model:
            raise ValueError("judge.model: required (an HF directory, or the endpoint's model name)")
        if self.backend == "openai" and self.method == "expected":
            raise ValueError("judge.method: 'expected' needs backend 'local'; use 'parse' with an endpoint")

    @classmethod
    def from_config(cls, cfg: dict) -> JudgeConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"judge: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**cfg)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairResult:
    winner: str | None  # "a", "b", "tie"; None when the judge failed
    p_a: float | None  # probability (expected) or vote share (parse) that a is better, over both orders
    consistent: bool | None  # both orders agree (parse); None for expected


class Judge:
    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg
        if cfg.backend == "local":
            self.backend = LocalBackend(cfg.model, cfg.max_new_tokens, cfg.generation)
        else:
            key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
            if cfg.api_key_env and not key:
                raise ValueError(f"judge.api_key_env: environment variable {cfg.api_key_env} is not set")
            self.backend = OpenAIBackend(
                cfg.base_url,
                cfg.model,
                api_key=key,
                max_new_tokens=cfg.max_new_tokens,
                timeout_s=cfg.timeout_s,
                retries=cfg.retries,
                concurrency=cfg.concurrency,
            )
        self.stats = {"calls": 0, "failed": 0, "unparseable": 0}

    def _replies(self, users: list[str], prefill: str) -> list[str | None]:
        """Reply texts (None where the call failed). Endpoints get no prefill (the protocol has none)."""
        if self.cfg.backend != "local" or self.cfg.explain:
            prefill = ""
        out = []
        for r in self.backend.generate(rubrics.SYSTEM, users, prefill):
            self.stats["calls"] += 1
            if isinstance(r, JudgeError):
                self.stats["failed"] += 1
                out.append(None)
            else:
                out.append(r)
        return out

    def _choices(self, users: list[str], choices: tuple[str, ...], prefill: str) -> list[list[float]]:
        self.stats["calls"] += len(users)
        return self.backend.choice_probs(rubrics.SYSTEM, users, prefill, choices, "]]")

    def rate(self, rubric: str, questions: list[str], answers: list[str]) -> list[float | None]:
        """Scores in [0, 1] (the 1-10 rating rescaled); None where the judge failed or gave no verdict."""
        users = [
            rubrics.single_prompt(rubric, q, a, self.cfg.explain)
            for q, a in zip(questions, answers, strict=True)
        ]
        if not users:
            return []
        if self.cfg.method == "expected":
            values = [float(v) for v in rubrics.RATING_CHOICES]
            probs = self._choices(users, rubrics.RATING_CHOICES, "Rating: [[")
            return [rubrics.normalize(sum(p * v for p, v in zip(ps, values, strict=True))) for ps in probs]
        scores = []
        for reply in self._replies(users, "Rating: [["):
            rating = rubrics.parse_rating(reply) if reply is not None else None
            if reply is not None and rating is None:
                self.stats["unparseable"] += 1
            scores.append(rubrics.normalize(rating))
        return scores

    def _pair_probs(self, questions, first, second) -> list[list[float] | str | None]:
        users = [
            rubrics.pairwise_prompt(q, a, b, self.cfg.explain)
            for q, a, b in zip(questions, first, second, strict=True)
        ]
        if self.cfg.method == "expected":
            return self._choices(users, rubrics.PAIR_CHOICES, "[[")
        out = []
        for reply in self._replies(users, "[["):
            verdict = rubrics.parse_choice(reply, rubrics.PAIR_CHOICES) if reply is not None else None
            if reply is not None and verdict is None:
                self.stats["unparseable"] += 1
            out.append(verdict)
        return out

    def compare(self, questions: list[str], answers_a: list[str], answers_b: list[str]) -> list[PairResult]:
        """Which answer is better, asked in both orders (a first, then b first) to cancel position bias.

        expected: p(a better) averages P(A) of the first order and P(B) of the swapped one; the winner is the
        most probable of a / b / tie. parse: the two verdicts must agree, else it is a tie (inconsistent).
        """
        ab = self._pair_probs(questions, answers_a, answers_b)
        ba = self._pair_probs(questions, answers_b, answers_a)
        out = []
        for x, y in zip(ab, ba, strict=True):
            if self.cfg.method == "expected":
                pa, pb, tie = (x[0] + y[1]) / 2, (x[1] + y[0]) / 2, (x[2] + y[2]) / 2
                winner = max((pa, "a"), (pb, "b"), (tie, "tie"))[1]
                out.append(PairResult(winner, pa, None))
                continue
            if x is None or y is None:
                out.append(PairResult(None, None, None))
                continue
            first = {"A": "a", "B": "b", "C": "tie"}[x]
            second = {"A": "b", "B": "a", "C": "tie"}[y]
            votes = [first, second]
            out.append(PairResult(first if first == second else "tie", votes.count("a") / 2, first == second))
        return out

    def is_refusal(self, questions: list[str], answers: list[str]) -> list[bool | None]:
        """Refusal (full or partial) vs compliance, judged on the answer part (after </think>)."""
        users = [
            rubrics.refusal_prompt(q, rubrics.answer_part(a)) for q, a in zip(questions, answers, strict=True)
        ]
        if not users:
            return []
        if self.cfg.method == "expected":
            return [p[0] > p[1] for p in self._choices(users, rubrics.REFUSAL_CHOICES, "[[")]
        out = []
        for reply in self._replies(users, "[["):
            verdict = rubrics.parse_choice(reply, rubrics.REFUSAL_CHOICES) if reply is not None else None
            if reply is not None and verdict is None:
                self.stats["unparseable"] += 1
            out.append(None if verdict is None else verdict == "REFUSAL")
        return out


_CACHE: dict[tuple, Judge] = {}


def shared_judge(cfg: JudgeConfig) -> Judge:
    """One Judge per configuration in this process (a reward function is called every RL step)."""
    key = tuple(sorted((k, repr(v)) for k, v in cfg.to_dict().items()))
    if key not in _CACHE:
        log.info("judge: %s %s (method %s)", cfg.backend, cfg.model, cfg.method)
        _CACHE[key] = Judge(cfg)
    return _CACHE[key]


__all__ = ["Judge", "JudgeConfig", "JudgeError", "PairResult", "rubrics", "shared_judge"]
