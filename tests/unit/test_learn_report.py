"""`python -m r1 learn`: each arm's held-out curve, clock and memory in learning.json; one writer an arm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import r1.learn
from r1.learn import lock_arm, main, stop_all


def write_arm(
    wd: Path, curve: list[tuple[int, float]], train: list[dict], finished: bool, folder: str = "rl_zero"
) -> None:
    stage = wd / "results" / folder
    (stage / "checkpoints").mkdir(parents=True)
    rows = []
    for step, acc in curve:
        rows.append(
            {
                "step": step,
                "heldout/arith_l1/pass@1": acc,
                "heldout/arith_l1/ci95_lo": acc - 0.04,
                "heldout/arith_l1/ci95_hi": acc + 0.04,
                "heldout/arith_l1/n": 500,
                "heldout/arith_l1/answered": 0.7,
            }
        )
    rows += [{"step": i + 1, "loss": 0.1, **t} for i, t in enumerate(train)]
    rows.append({"step": len(train), "train_runtime": 370.0})
    target = stage / ("metrics.jsonl" if finished else "checkpoints/metrics.jsonl")
    target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if finished:
        (stage / "manifest.json").write_text("{}")
    (wd / "command.txt").write_text("snakemake ...\n")


def test_report_collects_curves_clock_and_memory(tmp_path):
    runs = tmp_path / "runs"
    write_arm(
        runs / "E1" / "grpo",
        [(0, 0.15), (25, 0.37), (50, 0.45)],
        [
            {"step_time": 1.0, "peak_gpu_mem_gb": 3.0, "peak_rss_gb": 2.0},
            {"step_time": 2.0, "peak_gpu_mem_gb": 4.5, "peak_rss_gb": 2.5},
            {"step_time": 3.0, "nonfinite_skipped": 1},
        ],
        finished=True,
    )
    write_arm(runs / "E1" / "ppo", [(0, 0.15), (25, 0.10)], [{"step_time": 4.0}], finished=False)
    out = tmp_path / "out"
    argv = ["report", "--runs", str(runs), "--out", str(out), "--device", "H200", "--commit", "abc"]
    assert main(argv) == 0
    recs = {r["arm"]: r for r in json.loads((out / "learning.json").read_text())["experiments"]}
    assert set(recs) == {"grpo", "ppo"}
    g, p = recs["grpo"], recs["ppo"]
    assert (g["base_acc"], g["final_acc"], g["steps"], g["best_step"]) == (0.15, 0.45, 50, 50)
    assert g["finished"] and not p["finished"]
    assert g["mean_step_s"] == 2.0 and g["train_runtime_s"] == 370.0 and g["train_steps_s"] == 6.0
    assert g["peak_gpu_mem_gb"] == 4.5 and g["peak_rss_gb"] == 2.5 and g["nonfinite_skipped"] == 1
    assert p["peak_gpu_mem_gb"] is None and p["final_acc"] == 0.10
    assert g["command"] == "python -m r1 learn run E1 --device gpu --arms grpo"
    assert (out / "learning_E1_H200.png").stat().st_size > 10_000


def test_report_collects_a_distilled_students_curve_per_arm_and_stage(tmp_path):
    """E3: the rl arm's rl_zero (the student's GRPO), the distill arm's rl_zero (the teacher) and its student
    distill_smol27 (results/distill/students/smol27/), each its own record; per-arm targets."""
    from r1.learn import arm_target, load_experiments

    runs = tmp_path / "runs"
    write_arm(runs / "E3" / "rl", [(0, 0.01), (150, 0.05)], [{"step_time": 0.8}], finished=True)
    write_arm(runs / "E3" / "distill", [(0, 0.15), (150, 0.45)], [{"step_time": 1.5}], finished=True)
    student = "distill/students/smol27"
    write_arm(runs / "E3" / "distill", [(0, 0.01), (300, 0.30)], [{"step_time": 0.1}], True, student)
    out = tmp_path / "out"
    assert main(["report", "--runs", str(runs), "--out", str(out), "--device", "H200"]) == 0
    recs = {r["arm"]: r for r in json.loads((out / "learning.json").read_text())["experiments"]}
    assert set(recs) == {"rl:rl_zero", "distill:rl_zero", "distill:distill_smol27"}
    s = recs["distill:distill_smol27"]
    assert (s["stage"], s["final_acc"], s["steps"], s["mean_step_s"], s["finished"]) == (
        "distill_smol27",
        0.30,
        300,
        0.1,
        True,
    )
    assert "27 of 30 layers" in s["model"] and "27 of 30 layers" in recs["rl:rl_zero"]["model"]
    assert recs["distill:rl_zero"]["model"] == "SmolLM2-135M-Instruct"  # the teacher
    e3 = load_experiments()["E3"]
    assert arm_target(e3, "rl") == "zero_all"
    assert arm_target(e3, "distill") == "results/distill/students/smol27/manifest.json"


def test_newcombes_interval_matches_his_paper():
    """Newcombe (1998), Statistics in Medicine 17:873, Table II example (a): 56/70 vs 48/80, method 10."""
    from r1.eval.metrics import diff_ci95

    lo, hi = diff_ci95(56, 70, 48, 80)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)


def test_report_compares_every_arm_with_the_controls_at_equal_steps(tmp_path):
    runs = tmp_path / "runs"
    write_arm(runs / "E1" / "grpo", [(0, 0.12), (30, 0.375)], [{"step_time": 1.0}], finished=True)
    write_arm(runs / "E1" / "random_reward", [(0, 0.12), (30, 0.11)], [{"step_time": 1.0}], finished=True)
    write_arm(runs / "E1" / "format_only", [(0, 0.12), (20, 0.10)], [{"step_time": 1.0}], finished=False)
    (runs / "E1" / "grpo" / "commit.txt").write_text("fcd4340\n")  # written by learn run: the code that ran
    out = tmp_path / "out"
    assert main(["report", "--runs", str(runs), "--out", str(out), "--device", "cpu", "--commit", "abc"]) == 0
    recs = {r["arm"]: r for r in json.loads((out / "learning.json").read_text())["experiments"]}
    assert (recs["grpo"]["commit"], recs["random_reward"]["commit"]) == ("fcd4340", "abc")
    (v,) = recs["grpo"]["vs_controls"]  # format_only stopped at step 20: another budget, not compared
    assert v["control"] == "random_reward" and round(v["diff"], 3) == 0.265
    assert 0.18 < v["ci95"][0] < v["diff"] < v["ci95"][1] < 0.35
    assert recs["random_reward"]["vs_controls"] == []  # never compared with itself


def test_a_resumed_run_reports_the_last_evaluation_of_a_redone_step(tmp_path):
    # the first chunk evaluated steps 25 and 50, stopped before saving 50, resumed from 25 and redid 50
    runs = tmp_path / "runs"
    write_arm(
        runs / "E1" / "grpo", [(0, 0.15), (25, 0.3), (50, 0.2), (0, 0.15), (50, 0.4)], [{}], finished=True
    )
    out = tmp_path / "out"
    assert (
        main(["report", "--runs", str(runs), "--out", str(out), "--device", "H200", "--commit", "abc"]) == 0
    )
    (rec,) = json.loads((out / "learning.json").read_text())["experiments"]
    assert [(p["step"], p["pass@1"]) for p in rec["curve"]] == [(0, 0.15), (25, 0.3), (50, 0.4)]
    assert rec["final_acc"] == 0.4 and rec["best_step"] == 50


def test_a_run_skips_an_arm_that_an_earlier_runs_snakemake_still_writes(tmp_path):
    # 2026-12-03: a call's time limit killed `learn run` but not its Snakemakes, and the next call's run raced
    # them on the same checkpoints. The earlier Snakemake holds the arm's lock: the new run must not start it.
    wd = tmp_path / "runs" / "E1" / "grpo"
    wd.mkdir(parents=True)
    fd = lock_arm(wd)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=(fd,))
    os.close(fd)  # only the child (the "orphan") holds it now
    try:
        rc = main(["run", "E1", "--arms", "grpo", "--device", "cpu", "--runs", str(tmp_path / "runs")])
        assert rc == 3
        status = json.loads((tmp_path / "runs" / "E1" / "status.json").read_text())
        assert status["grpo"].startswith("busy")
        assert not (wd / "command.txt").exists()  # no Snakemake was started
    finally:
        holder.kill()
        holder.wait()
    assert lock_arm(wd) is not None  # the holder's death frees the arm


def test_stop_all_kills_what_ignores_sigint_after_one_shared_grace():
    ignore = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print(1, flush=True); " + (
        "time.sleep(60)"
    )
    procs = {
        f"arm{i}": subprocess.Popen(
            [sys.executable, "-c", ignore], start_new_session=True, stdout=subprocess.PIPE, text=True
        )
        for i in range(3)
    }
    for p in procs.values():
        p.stdout.readline()  # SIGINT is ignored from here on
    t0 = time.time()
    stop_all(procs, grace_s=2)
    assert all(p.poll() is not None for p in procs.values())
    assert time.time() - t0 < 5  # one 2 s grace for the three, not 2 s each in turn


ARM = """import pathlib, sys, time
try:
    time.sleep(60)
except KeyboardInterrupt:  # what Snakemake does on SIGINT: stop its jobs, keep the checkpoints
    pathlib.Path(sys.argv[1]).write_text("SIGINT")
"""


def fake_arms(monkeypatch):
    monkeypatch.setattr(
        r1.learn,
        "snakemake_argv",
        lambda exp, arm, dev, wd, cores, extra, gpu_slots: [sys.executable, "-c", ARM, str(wd / "got")],
    )


def test_the_time_limit_interrupts_arms_even_when_run_was_started_with_sigint_ignored(tmp_path, monkeypatch):
    # a background job of a non-interactive shell (bench/learn_gpu.sh) starts with SIGINT ignored, and so did
    # every Snakemake it started: they never saw the stop and were killed mid-step after the grace
    fake_arms(monkeypatch)
    monkeypatch.setattr("r1.learn.STOP_GRACE_S", 20)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        t0 = time.time()
        argv = [
            "run",
            "E1",
            "--arms",
            "grpo,ppo",
            "--device",
            "cpu",
            "--runs",
            str(tmp_path),
            "--minutes",
            "0.05",
        ]
        assert main(argv) == 3
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.time() - t0 < 15  # the arms stopped on SIGINT, not by SIGKILL after the 20 s grace
    for arm in ("grpo", "ppo"):
        assert (tmp_path / "E1" / arm / "got").read_text() == "SIGINT"
    status = json.loads((tmp_path / "E1" / "status.json").read_text())
    assert status == {a: "stopped at the time limit (resumes on the next run)" for a in ("grpo", "ppo")}


def test_sigterm_to_run_stops_its_arms_instead_of_orphaning_them(tmp_path, monkeypatch):
    fake_arms(monkeypatch)
    threading.Timer(3, os.kill, (os.getpid(), signal.SIGTERM)).start()  # `timeout`'s signal, 3 s in
    assert main(["run", "E1", "--arms", "grpo", "--device", "cpu", "--runs", str(tmp_path)]) == 3
    assert (tmp_path / "E1" / "grpo" / "got").read_text() == "SIGINT"
    status = json.loads((tmp_path / "E1" / "status.json").read_text())
    assert status == {"grpo": "stopped by SIGTERM (resumes on the next run)"}
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # run restored the handlers it replaced


def test_gpu_slots_set_the_gpu_resource_of_an_arms_snakemake(tmp_path):
    exp = r1.learn.load_experiments()["E4"]
    argv = r1.learn.snakemake_argv(exp, "lease", "gpu", tmp_path, 16, [], gpu_slots=4)
    assert argv[argv.index("--resources") + 1] == "gpu=4"
    assert "--resources" not in r1.learn.snakemake_argv(exp, "lease", "cpu", tmp_path, 2, [])


def test_report_copies_a_whole_dag_arms_eval_table(tmp_path):
    # E4 has no held-out curves: its outcome is the DAG's eval table, which the report brings to docs/results
    wd = tmp_path / "runs" / "E4" / "lease"
    (wd / "results/eval").mkdir(parents=True)
    (wd / "results/eval/table.csv").write_text(
        "model,benchmark,n_problems,k,pass@1,pass@1_ci95_lo,pass@1_ci95_hi\n"
        "base,gsm8k,200,4,0.01,0.0,0.02\nsft,gsm8k,200,4,0.03,0.01,0.05\nsft,mt_bench,40,4,,,\n"
    )
    (wd / "results/sft").mkdir()
    (wd / "results/sft/metrics.jsonl").write_text('{"step": 50, "loss": 1.0}\n{"step": 100, "loss": 0.5}\n')
    (wd / "results/eval/table.md").write_text("| model | pass@1 |\n")
    (wd / "command.txt").write_text("python -m snakemake distill_all\n")
    out = tmp_path / "out"
    argv = [
        "report",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(out),
        "--device",
        "H200",
        "--commit",
        "c0",
    ]
    assert main(argv) == 0  # no held-out curve, but a table: not a failure
    facts = json.loads((out / "eval_E4_lease_H200.json").read_text())
    assert facts["commit"] == "c0" and facts["command"] == "python -m snakemake distill_all"
    assert facts["rows"][1]["model"] == "sft" and facts["rows"][1]["pass@1"] == 0.03
    assert (out / "eval_E4_lease_H200.md").exists() and (out / "eval_E4_lease_H200.csv").exists()
    # and in learning.json, like E1-E3: the trained model against the base on the same benchmark (MT-Bench,
    # without a pass@1, and the base itself are not records)
    (rec,) = json.loads((out / "learning.json").read_text())["experiments"]
    assert (rec["name"], rec["arm"], rec["heldout"], rec["n_heldout"]) == ("E4", "lease:sft", "gsm8k", 200)
    assert (rec["base_acc"], rec["final_acc"], rec["final_ci95"]) == (0.01, 0.03, [0.01, 0.05])
    assert rec["steps"] == 100
    assert rec["commit"] == "c0" and rec["complete"] is True and rec["curve"] == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", "--runs", str(empty), "--out", str(out)]) == 1


def test_report_builds_a_partial_table_of_an_arm_stopped_before_its_eval_table(tmp_path):
    # a lease that ran out before eval_table: the finished evaluations are reported, marked partial
    wd = tmp_path / "runs" / "E4" / "lease"
    for model, p1 in (("base", 0.01), ("sft", 0.035)):
        d = wd / "results/eval" / model / "gsm8k"
        d.mkdir(parents=True)
        summary = {"model": model, "benchmark": "gsm8k", "n_problems": 200, "k": 4, "pass@1": p1}
        summary |= {"pass@1_ci95_lo": p1 / 2, "pass@1_ci95_hi": p1 * 2}
        (d / "summary.json").write_text(json.dumps(summary))
    (wd / "results/eval/sft_stabilize/tasks").mkdir(parents=True)  # a task eval killed before its summaries
    out = tmp_path / "out"
    assert main(["report", "--runs", str(tmp_path / "runs"), "--out", str(out), "--device", "H200"]) == 0
    facts = json.loads((out / "eval_E4_lease_H200.json").read_text())
    assert facts["complete"] is False and facts["n_rows"] == 2
    assert [(r["model"], r["pass@1"], r["pass@1_ci95_hi"]) for r in facts["rows"]] == [
        ("base", 0.01, 0.02),
        ("sft", 0.035, 0.07),
    ]
    md = (out / "eval_E4_lease_H200.md").read_text()
    assert md.startswith("Partial: the run stopped before `eval_table`; the 2 evaluations")
    assert "| sft " in md
    # E2's target (r1_eval) has no eval_table: its evaluations are not reported as a partial table
    e2 = tmp_path / "runs" / "E2" / "cold_start" / "results/eval/base/arith_l1"
    e2.mkdir(parents=True)
    (e2 / "summary.json").write_text(json.dumps({"model": "base", "benchmark": "arith_l1", "pass@1": 0.1}))
    assert main(["report", "--runs", str(tmp_path / "runs"), "--out", str(out), "--device", "H200"]) == 0
    assert not list(out.glob("eval_E2_*"))
