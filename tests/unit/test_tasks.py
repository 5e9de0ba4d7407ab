"""Non-math data loaders (r1.tasks) and the code / multiple-choice / safety / judged evaluations
(r1.eval.tasks)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from r1.eval.runner import EvalProtocol
from r1.eval.tasks import TaskBenchmark, evaluate_task, extract_choice
from r1.generation import Sample
from r1.sandbox import Job, Limits, Sandbox, program_for
from r1.tasks import load_hh_rlhf, load_mmlu, load_task_set

A = "r1/assets/benchmarks"
SETS = {
    "mbpp_test": ({"format": "mbpp", "path": f"{A}/mbpp/mbpp.jsonl", "split": "test"}, 500),
    "mbpp_train": ({"format": "mbpp", "path": f"{A}/mbpp/mbpp.jsonl", "split": "train+validation"}, 464),
    "humaneval": ({"format": "humaneval", "path": f"{A}/humaneval/HumanEval.jsonl.gz"}, 164),
    "mmlu_stem": ({"format": "mmlu", "path": f"{A}/mmlu_stem/test.jsonl"}, 3018),
    "advbench": ({"format": "advbench", "path": f"{A}/advbench/harmful_behaviors.csv"}, 520),
    "xstest_safe": ({"format": "xstest", "path": f"{A}/xstest/xstest_prompts.csv"}, 250),
    "xstest_unsafe": ({"format": "xstest", "path": f"{A}/xstest/xstest_prompts.csv", "split": "unsafe"}, 200),
    "mt_bench": ({"format": "mt_bench", "path": f"{A}/mt_bench/question.jsonl"}, 80),
    "self_instruct": (
        {"format": "self_instruct", "path": "r1/assets/data/self_instruct/seed_tasks.jsonl"},
        175,
    ),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_shipped_sets_load(name):
    spec, n = SETS[name]
    df = load_task_set(spec)
    assert len(df) == n and df["id"].is_unique
    assert df["text"].map(lambda t: isinstance(t, str) and t.strip() != "").all()


def test_hh_rlhf_halves_are_disjoint_first_turns_only():
    path = f"{A}/hh_rlhf_harmless/test.jsonl.gz"
    ev, tr = load_hh_rlhf(path, "eval"), load_hh_rlhf(path, "train")
    assert len(ev) + len(tr) == 2178 and abs(len(ev) - len(tr)) < 100
    assert not set(ev["prompt"]) & set(tr["prompt"])
    for df in (ev, tr):
        assert not df["prompt"].str.contains("Assistant:").any()
        assert not df["prompt"].str.contains("\n\nHuman:").any()


def test_mmlu_formats_and_errors(tmp_path):
    rows = [
        {"question": "2+2?", "choices": ["3", "4", "5", "6"], "answer": 1, "subject": "math"},
        {"question": "Sky?", "A": "green", "B": "blue", "C": "red", "D": "black", "answer": "B"},
    ]
    path = tmp_path / "mmlu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = load_mmlu(path)
    assert df["answer"].tolist() == ["B", "B"] and df["n_choices"].tolist() == [4, 4]
    assert "A. 3\nB. 4" in df.iloc[0]["problem"] and "\\boxed{}" in df.iloc[0]["problem"]
    assert "boxed" not in df.iloc[0]["text"]  # decontamination text carries no instruction
    csv = tmp_path / "mmlu.csv"
    pd.DataFrame([{"question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "E"}]).to_csv(
        csv, index=False
    )
    with pytest.raises(ValueError, match=r"mmlu.csv: row 1: field 'answer' 'E'"):
        load_mmlu(csv)


def test_mbpp_bad_row_names_file_row_field(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps({"task_id": 11, "text": "t", "code": "c", "test_list": []}) + "\n")
    with pytest.raises(ValueError, match=r"mbpp.jsonl: row 1: field 'test_list'"):
        load_task_set({"format": "mbpp", "path": str(path), "split": "test"})
    with pytest.raises(ValueError, match="unknown split"):
        load_task_set({"format": "mbpp", "path": str(path), "split": "dev"})


def test_program_for_humaneval_continuation_and_full_function():
    prefix = 'from typing import List\n\n\ndef f(x: List[int]) -> int:\n    """doc"""\n'
    assert program_for("    return sum(x)\n", prefix, "f") == prefix + "    return sum(x)\n"
    full = program_for("def f(x):\n    return sum(x)\n", prefix, "f")
    assert full.startswith("from typing import List\n") and full.count("def f(") == 1
    assert program_for("x = 1\n", "setup = 2", None) == "setup = 2\nx = 1\n"


def test_reference_solutions_pass_in_the_sandbox():
    """Loader + program assembly + sandbox together: HumanEval's canonical solutions and MBPP's references
    pass."""
    he = load_task_set(SETS["humaneval"][0])
    mbpp = load_task_set({**SETS["mbpp_test"][0], "limit": 40})
    raw = [json.loads(x) for x in open(f"{A}/mbpp/mbpp.jsonl")]
    refs = {f"mbpp:{r['task_id']}": r["code"] for r in raw}
    he_raw = {
        json.loads(x)["task_id"]: json.loads(x)
        for x in __import__("gzip").open(SETS["humaneval"][0]["path"], "rt")
    }
    jobs = [
        Job(program_for(he_raw[t.id]["canonical_solution"], t.prefix, t.entry_point), t.tests)
        for t in he.itertuples()
    ]
    jobs += [Job(program_for(refs[t.id], t.prefix, t.entry_point), t.tests) for t in mbpp.itertuples()]
    with Sandbox(Limits(wall_time_s=10), workers=2) as box:
        results = box.run(jobs)
    failed = [(j.program[:60], r.reason) for j, r in zip(jobs, results, strict=True) if not r.passed]
    assert not failed, failed[:5]


@pytest.mark.parametrize(
    "text, letter",
    [
        ("<think>maybe A</think>The answer is $\\boxed{C}$.", "C"),
        ("\\boxed{(B)}", "B"),
        ("\\boxed{\\text{D}}", "D"),
        ("Answer: b", "B"),
        ("The correct option is (A).", "A"),
        ("B", "B"),
        ("C. increase the mortality rate", "C"),
        ("\\boxed{E}", None),  # not an option of a 4-choice question
        ("I am not sure.", None),
        ("The answer is an apple.", None),
        ("", None),
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text, 4) == letter


class StubTokenizer:
    chat_template = "stub"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


class ScriptedGenerator:
    """Returns, for prompt i and sample j, script(prompt, j)."""

    def __init__(self, script):
        self.tokenizer = StubTokenizer()
        self.script = script

    def generate(self, prompts, params, desc=""):
        return [[Sample(self.script(p, j), 3, False) for j in range(params.n)] for p in prompts]


PROTOCOL = EvalProtocol(k=2, temperature=0.6, max_new_tokens=8, pass_ks=(1, 2))


def test_code_eval_pass_at_k(tmp_path):
    raw = {
        json.loads(x)["task_id"]: json.loads(x)
        for x in __import__("gzip").open(SETS["humaneval"][0]["path"], "rt")
    }

    def script(prompt, j):
        tid = next(t for t in raw if f"def {raw[t]['entry_point']}(" in prompt)
        body = raw[tid]["canonical_solution"] if j == 0 or tid == "HumanEval/0" else "    return None\n"
        return f"<think>easy</think>\n```python\n{raw[tid]['prompt']}{body}```"

    bench = TaskBenchmark(
        name="humaneval", kind="code", format="humaneval", path=SETS["humaneval"][0]["path"], limit=3
    )
    with Sandbox(Limits(wall_time_s=10), workers=2) as box:
        df, summary = evaluate_task(
            "m", bench, PROTOCOL, "stub", generator=ScriptedGenerator(script), sandbox=box
        )
    # HumanEval/0: both samples pass; the other two: one of two.
    assert summary["pass@1"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert summary["pass@2"] == pytest.approx(1.0)
    assert summary["kind"] == "code" and summary["n_problems"] == 3 and summary["sandbox_status"]["ok"] == 4
    assert set(df.columns) >= {"problem_id", "completion", "correct", "detail"}


def test_choice_eval(tmp_path):
    bench = TaskBenchmark(
        name="mmlu_stem", kind="choice", format="mmlu", path=SETS["mmlu_stem"][0]["path"], limit=4
    )
    answers = load_task_set({**SETS["mmlu_stem"][0], "limit": 4})
    truth = dict(zip(answers["problem"], answers["answer"], strict=True))

    def script(prompt, j):
        problem = next(p for p in truth if p in prompt)
        return f"\\boxed{{{truth[problem]}}}" if j == 0 else "I think it is something."

    _, summary = evaluate_task("m", bench, PROTOCOL, "stub", generator=ScriptedGenerator(script))
    assert summary["pass@1"] == 0.5 and summary["pass@2"] == 1.0 and summary["extraction_rate"] == 0.5
    assert summary["cons@2"] == 1.0  # the only vote is the right letter


def test_safety_evals_with_the_strmatch_classifier():
    def script(prompt, j):
        return "I'm sorry, I can't help with that." if j == 0 else "Sure! Step one: ..."

    adv = TaskBenchmark(
        name="advbench", kind="refusal", format="advbench", path=SETS["advbench"][0]["path"], limit=3
    )
    _, summary = evaluate_task("m", adv, PROTOCOL, "stub", generator=ScriptedGenerator(script))
    assert summary["refusal_rate"] == 0.5 and summary["refusal_classifier"] == "strmatch"
    assert 0 < summary["refusal_rate_ci95_lo"] < 0.5 < summary["refusal_rate_ci95_hi"] < 1
    xs = TaskBenchmark(
        name="xstest", kind="over_refusal", format="xstest", path=SETS["xstest_safe"][0]["path"], limit=2
    )
    df, summary = evaluate_task("m", xs, PROTOCOL, "stub", generator=ScriptedGenerator(lambda p, j: "Sure."))
    assert summary["refusal_rate"] == 0.0 and df["refused"].tolist() == [False] * 4


def test_judged_eval_uses_the_judge():
    class FakeJudge:
        def rate(self, rubric, questions, answers):
            assert rubric == "helpfulness" and len(questions) == len(answers)
            return [1.0 if "good" in a else None for a in answers]

    mt = TaskBenchmark(
        name="mt_bench", kind="judged", format="mt_bench", path=SETS["mt_bench"][0]["path"], limit=2
    )
    _, summary = evaluate_task(
        "m",
        mt,
        PROTOCOL,
        "stub",
        generator=ScriptedGenerator(lambda p, j: "good" if j else "bad"),
        judge=FakeJudge(),
    )
    assert summary["judge_score"] == 1.0 and summary["n_judge_failures"] == 2


def test_kind_and_format_must_fit():
    with pytest.raises(ValueError, match="does not fit kind"):
        TaskBenchmark(name="x", kind="code", format="mmlu", path="p")
    with pytest.raises(ValueError, match="unknown kind"):
        TaskBenchmark(name="x", kind="math", format="mmlu", path="p")


def test_table_rows_for_code_choice_and_safety():
    from r1.eval.table import build_table

    rows = [
        {"model": "sft", "benchmark": "mbpp", "kind": "code", "n_problems": 4, "k": 2, "pass@1": 0.25},
        {"model": "sft", "benchmark": "mmlu_stem", "kind": "choice", "n_problems": 4, "k": 2, "pass@1": 0.5},
        {
            "model": "sft",
            "benchmark": "advbench",
            "kind": "refusal",
            "n_problems": 4,
            "k": 2,
            "refusal_rate": 0.75,
        },
        {
            "model": "sft",
            "benchmark": "mt_bench",
            "kind": "judged",
            "n_problems": 4,
            "k": 2,
            "judge_score": 0.4,
        },
    ]
    df = build_table(rows).set_index("benchmark")
    assert df.loc["mmlu_stem", "paper_pass@1"] == pytest.approx(0.908)  # R1's MMLU beside our MMLU-STEM
    assert pd.isna(df.loc["mbpp", "paper_pass@1"])  # the paper reports no MBPP
    assert df.loc["advbench", "refusal_rate"] == 0.75 and df.loc["mt_bench", "judge_score"] == 0.4
    assert df.loc["mbpp", "kind"] == "code"


def test_pregenerated_samples_answer_every_benchmark_from_one_generation_call():
    from r1.eval.tasks import PregeneratedSamples, task_prompts

    calls = []

    class Counting(ScriptedGenerator):
        def generate(self, prompts, params, desc=""):
            calls.append(len(prompts))
            return super().generate(prompts, params, desc)

    gen = Counting(lambda p, j: "I'm sorry, I can't." if j else "Sure.")
    benches = [
        TaskBenchmark(
            name="advbench", kind="refusal", format="advbench", path=SETS["advbench"][0]["path"], limit=2
        ),
        TaskBenchmark(
            name="xstest", kind="over_refusal", format="xstest", path=SETS["xstest_safe"][0]["path"], limit=3
        ),
    ]
    prompts = [p for b in benches for p in task_prompts(b, gen.tokenizer, PROTOCOL)[1]]
    shared = PregeneratedSamples(gen, prompts, PROTOCOL)
    rates = [evaluate_task("m", b, PROTOCOL, "stub", generator=shared)[1]["refusal_rate"] for b in benches]
    assert calls == [5] and rates == [0.5, 0.5]
