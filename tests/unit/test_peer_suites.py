"""Other graders' own test suites, run against r1's grader (issue 12).

The cases in tests/unit/peer_suites/*.jsonl were converted by scripts/convert_peer_suites.py from
huggingface/Math-Verify `tests/`, NVIDIA/NeMo-Skills `tests/test_math_equal.py` and huggingface/open-r1
`tests/test_rewards.py` (commits, licences and attribution: tests/unit/peer_suites/SOURCE.md). Each case keeps
the peer's label. r1 grades each case in both modes; every case where r1 disagrees with the peer must be
listed in tests/unit/peer_suites/disagreements.yaml with its reason, and every listed case must still
disagree: a grader change that moves any verdict fails here until the list is updated. The agreement table is
printed at the end of the test session (and by `python tests/unit/test_peer_suites.py`).

How r1 reads a case (`input`):
- `answer` (NeMo-Skills' math_equal): an extracted answer, compared with `is_equivalent`.
- `completion` (open-r1's rewards): a model completion, graded as the pipeline does (`grade_batch`: marked
  final answer only).
- `free_text` (Math-Verify, which parses both sides as free model output): the marked final answer if there
  is one; else, when the whole string is one answer (a single `$...$` / `\\(...\\)` / `\\[...\\]` span, or no
  prose), that answer; else nothing (r1 never parses free text, so the case is wrong for r1).
- `format` (open-r1's format_reward): r1's format reward with the `<answer>` tag required.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from r1.grading import extract_answer, grade_batch, is_equivalent

SUITES = Path(__file__).resolve().parent / "peer_suites"
PEERS = {"math_verify": "Math-Verify", "nemo_skills": "NeMo-Skills", "open_r1": "open-r1"}
MODES = ("strict", "lenient")

_MATH_SPANS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_PROSE = re.compile(r"[A-Za-z]{2,}[\s,.:;]+[A-Za-z]{2,}")
_TEXT_ARG = re.compile(r"\\(?:text|textbf|textit|mathrm|mbox)\s*\{[^{}]*\}")


def load_cases() -> dict[str, list[dict]]:
    return {
        name: [
            json.loads(line) for line in (SUITES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        for name in PEERS
    }


def bare_answer(text: str) -> str | None:
    """`text` as one answer when it is a single math span or holds no prose; else None."""
    s = text.strip()
    for left, right in _MATH_SPANS:
        if s.startswith(left) and s.endswith(right) and len(s) > len(left) + len(right):
            inner = s[len(left) : len(s) - len(right)]
            return None if "$" in inner or "\\(" in inner or "\\[" in inner else inner.strip()
    if "$" in s or "\\(" in s or "\\[" in s or _PROSE.search(_TEXT_ARG.sub(" ", s)):
        return None
    return s


def r1_verdicts(cases: list[dict], mode: str) -> list[bool]:
    """r1's verdict on each case (an unusable reference, None, counts as not credited)."""
    from r1.rewards import format_reward

    out: list[bool | None] = [None] * len(cases)
    completions = [i for i, c in enumerate(cases) if c["input"] == "completion"]
    if completions:
        graded = grade_batch(
            [cases[i]["pred"] for i in completions], [cases[i]["gold"] for i in completions], mode
        )
        for i, g in zip(completions, graded, strict=True):
            out[i] = g.correct is True
    fmt = format_reward(require_answer_tag=True)
    for i, c in enumerate(cases):
        if c["input"] == "answer":
            out[i] = c["gold"] is not None and is_equivalent(c["pred"], c["gold"], mode) is True
        elif c["input"] == "free_text":
            answer = extract_answer(c["pred"]) or bare_answer(c["pred"])
            out[i] = answer is not None and is_equivalent(answer, c["gold"], mode) is True
        elif c["input"] == "format":
            out[i] = fmt([c["pred"]])[0] == 1.0
    return out


def agreement() -> tuple[dict, dict]:
    """({(peer, mode): (n_agree, n)}, {(peer, mode): {case id: (peer label, r1 verdict)}})."""
    table, disagreements = {}, defaultdict(dict)
    for name, cases in load_cases().items():
        for mode in MODES:
            verdicts = r1_verdicts(cases, mode)
            for c, v in zip(cases, verdicts, strict=True):
                if v != c["label"]:
                    disagreements[(name, mode)][c["id"]] = (c["label"], v)
            table[(name, mode)] = (len(cases) - len(disagreements[(name, mode)]), len(cases))
    return table, disagreements


def listed() -> tuple[dict, dict]:
    """The deliberate disagreements: ({(peer, mode): {case id: reason key}}, {reason key: text})."""
    data = yaml.safe_load((SUITES / "disagreements.yaml").read_text(encoding="utf-8"))
    out = defaultdict(dict)
    for name in PEERS:
        for case_id, entry in (data.get(name) or {}).items():
            for mode in MODES:
                if entry.get(mode):
                    out[(name, mode)][case_id] = entry[mode]
    return out, data["reasons"]


def format_table(table: dict, expected: dict) -> str:
    """Agreement per peer and mode, and the deliberate disagreements counted by reason."""
    lines = [
        "peer suite agreement (r1 verdict == peer label)",
        f"{'peer':12s} {'cases':>6s}  strict    lenient",
    ]
    for name, label in PEERS.items():
        (s_ok, n), (l_ok, _) = table[(name, "strict")], table[(name, "lenient")]
        lines.append(f"{label:12s} {n:6d}  {s_ok / n:6.1%}   {l_ok / n:6.1%}   ({s_ok} / {l_ok} agree)")
    lines.append("deliberate disagreements by reason (tests/unit/peer_suites/disagreements.yaml):")
    for name, label in PEERS.items():
        for mode in MODES:
            counts = Counter(expected.get((name, mode), {}).values())
            if counts:
                text = ", ".join(f"{reason} {k}" for reason, k in counts.most_common())
                lines.append(f"  {label} {mode}: {text}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def results():
    return agreement()


def test_peer_cases_are_converted_with_labels():
    cases = load_cases()
    assert {k: len(v) for k, v in cases.items()} == {"math_verify": 269, "nemo_skills": 60, "open_r1": 16}
    for name, rows in cases.items():
        assert len({c["id"] for c in rows}) == len(rows), name
        assert all(isinstance(c["label"], bool) for c in rows), name
        assert any(c["label"] for c in rows) and not all(c["label"] for c in rows), name


def test_every_disagreement_is_listed_with_a_reason(results, record_property):
    table, found = results
    expected, reasons = listed()
    record_property("peer_agreement", format_table(table, expected))
    problems = []
    for key in sorted(set(found) | set(expected)):
        name, mode = key
        for case_id in sorted(set(found.get(key, {})) - set(expected.get(key, {}))):
            label, verdict = found[key][case_id]
            problems.append(f"{name} {mode}: unlisted disagreement {case_id} (peer {label}, r1 {verdict})")
        for case_id in sorted(set(expected.get(key, {})) - set(found.get(key, {}))):
            problems.append(f"{name} {mode}: listed {case_id} but r1 now agrees with the peer")
        for case_id, reason in expected.get(key, {}).items():
            if reason not in reasons:
                problems.append(f"{name} {mode}: {case_id}: unknown reason {reason!r}")
    assert not problems, "\n".join(problems)


def test_agreement_floor(results):
    """Most disagreements are by design; the floor catches a grader change that breaks many at once."""
    table, _ = results
    for (name, mode), (ok, n) in table.items():
        assert ok / n >= 0.6, (name, mode, ok, n)


if __name__ == "__main__":
    table, found = agreement()
    expected, reasons = listed()
    print(format_table(table, expected))
    for key in sorted(found):
        for case_id, (label, verdict) in sorted(found[key].items()):
            reason = expected.get(key, {}).get(case_id, "UNLISTED")
            print(f"{key[0]:12s} {key[1]:8s} {case_id:60s} peer={label!s:5s} r1={verdict!s:5s} {reason}")
