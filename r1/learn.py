"""Learning experiments: does a stage make the model reason better? (docs/results.md)

An experiment (configs/learn/experiments.yaml) is a set of arms; an arm is an ordinary r1 DAG run — the same
Snakefile, a stack of config overlays, one working directory `runs/<experiment>/<arm>/` — whose training stage
logs held-out accuracy during training (r1/heldout.py). Arms of one experiment share the seed and the step
budget and differ only in what the experiment compares (rewards, the cold start, distillation, ...).

    python -m r1 learn run E1 --device gpu --minutes 9      # all arms side by side, stopped after 9 minutes
    python -m r1 learn run E1 --device gpu                  # again: every arm resumes from its checkpoint
    python -m r1 learn report --runs runs --out docs/results

`run` starts every arm at once (on one GPU they share it; with --max-parallel they queue), stops them after
`--minutes` (SIGINT: Snakemake stops its jobs; checkpoints are kept; what still runs after STOP_GRACE_S is
killed), and a later `run` resumes each arm from its last checkpoint — runs proceed in resumable chunks. An
arm is written by one run at a time: `runs/<experiment>/<arm>/.learn.lock` is held (flock) by the run and
its Snakemake, so a second `run` skips an arm whose earlier Snakemake is still alive instead of racing it.
`report` reads every arm's held-out curve and final evaluation into docs/results/learning.json and the curve
plots.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "configs" / "learn" / "experiments.yaml"
# Seconds every arm gets, together, to stop after SIGINT at the time limit before the rest is killed. One
# budget for all arms (it was 60 s per arm, waited in turn: slow arms outlived the 10-minute call that ran
# them on 2026-12-03, and their Snakemakes raced the next call's on the same checkpoints; docs/results.md).
STOP_GRACE_S = 60
# Snakemake's `gpu` resource per arm on --device gpu: GPU jobs of one arm at once, sharing the GPU (a 135M
# model leaves most of an H200 idle; E4's generation and eval jobs overlap its training chain with 4)
GPU_SLOTS = 2
# Snakefile targets whose DAG ends in eval_table: only their arms' finished evaluations make an eval table
WHOLE_DAG_TARGETS = ("all", "distill_all")


def load_experiments(path: Path = EXPERIMENTS) -> dict:
    with open(path) as f:
        exps = yaml.safe_load(f)
    for name, e in exps.items():
        for key in ("stage", "target", "configs", "arms"):
            if key not in e:
                raise ValueError(f"{path}: experiment {name}: missing key {key!r}")
        for arm in list(e.get("targets") or {}) + list(e.get("controls") or []):
            if arm not in e["arms"]:
                raise ValueError(f"{path}: experiment {name}: targets/controls name an unknown arm {arm!r}")
        for arm, files in e["arms"].items():
            for f_ in list(e["configs"]) + list(files or []):
                if not (ROOT / f_).exists():
                    raise ValueError(f"{path}: experiment {name}, arm {arm}: config file {f_} does not exist")
    return exps


def arm_configs(exp: dict, arm: str, device: str, extra: list[str]) -> list[str]:
    dev = exp.get("device_configs", {}).get(device, [])
    late = exp.get("device_overlays", {}).get(device, [])
    # the arm's overlays after the device's sizes: what an arm varies must win on every device (before
    # 2026-12-03 configs/learn/cpu.yaml's beta 0.0, learning rate and temperature silently undid the KL and
    # grid arms on CPU; test_config.py::test_every_arm_of_every_experiment_validates_on_every_device)
    files = ["config.yaml", *dev, *exp["configs"], *late, *(exp["arms"][arm] or []), *extra]
    return [str(ROOT / f) if not os.path.isabs(f) else f for f in files]


def snakemake_argv(
    exp: dict, arm: str, device: str, workdir: Path, cores: int, extra: list[str], gpu_slots: int = GPU_SLOTS
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *arm_configs(exp, arm, device, extra),
        "--cores",
        str(cores),
        "--rerun-incomplete",
        "--scheduler",
        "greedy",
        "--nolock",
    ]
    if device == "gpu":
        argv[argv.index("--cores") : argv.index("--cores")] = ["--resources", f"gpu={gpu_slots}"]
    return argv + arm_target(exp, arm).split()


def arm_target(exp: dict, arm: str) -> str:
    """The Snakemake target(s) of an arm: the experiment's `target`, or the arm's entry in `targets`."""
    return (exp.get("targets") or {}).get(arm) or exp["target"]


def lock_arm(wd: Path) -> int | None:
    """An exclusive flock on `wd/.learn.lock`, or None when another process (an earlier run's Snakemake
    that outlived it) holds it. The fd is passed to the arm's Snakemake: the lock lasts while either lives."""
    fd = os.open(wd / ".learn.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class _Stop(Exception):
    """SIGINT or SIGTERM reached `learn run`."""


def _raise_stop(signum, frame):
    raise _Stop(signal.Signals(signum).name)


def stop_all(procs: dict[str, subprocess.Popen], grace_s: float | None = None) -> None:
    """SIGINT every arm's Snakemake (it stops its jobs; checkpoints stay), then SIGKILL, after one shared
    grace period, the process groups still alive."""
    grace_s = STOP_GRACE_S if grace_s is None else grace_s
    for p in procs.values():
        os.killpg(p.pid, signal.SIGINT)
    end = time.time() + grace_s
    while time.time() < end and any(p.poll() is None for p in procs.values()):
        time.sleep(0.5)
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def run(args) -> int:
    exps = load_experiments()
    if args.experiment not in exps:
        raise SystemExit(f"unknown experiment {args.experiment!r}; known: {sorted(exps)}")
    exp = exps[args.experiment]
    arms = args.arms.split(",") if args.arms else list(exp["arms"])
    for a in arms:
        if a not in exp["arms"]:
            raise SystemExit(f"experiment {args.experiment}: unknown arm {a!r}; known: {list(exp['arms'])}")
    base = Path(args.runs) / args.experiment
    procs: dict[str, subprocess.Popen] = {}
    pending = list(arms)
    t0 = time.time()
    deadline = t0 + args.minutes * 60 if args.minutes else None
    status: dict[str, str] = {}
    stopped = ""
    # SIGINT/SIGTERM (Ctrl-C, `timeout`, a scheduler's time limit) stop the arms as the time limit does:
    # their Snakemakes run in sessions of their own and would outlive this process. The handler also matters
    # for the children: started in the background by a non-interactive shell (bench/learn_gpu.sh), this
    # process inherits SIGINT ignored, and an exec'd child keeps an ignored signal but resets a handled one to
    # the default — without it the arms' Snakemakes ignored the time limit's SIGINT and were killed after the
    # grace, mid-step (measured 2026-12-03: `signal.getsignal(SIGINT)` is SIG_IGN in such a grandchild).
    old = {s_: signal.signal(s_, _raise_stop) for s_ in (signal.SIGINT, signal.SIGTERM)}
    try:
        while pending or procs:
            while pending and len(procs) < (args.max_parallel or len(arms)):
                arm = pending.pop(0)
                wd = base / arm
                wd.mkdir(parents=True, exist_ok=True)
                lock = lock_arm(wd)
                if lock is None:
                    status[arm] = "busy: another run's Snakemake still writes it (not started)"
                    print(
                        f"[learn] {args.experiment}/{arm}: {status[arm]}; see {wd / '.learn.lock'}",
                        flush=True,
                    )
                    continue
                argv = snakemake_argv(
                    exp, arm, args.device, wd.resolve(), args.cores, args.config or [], args.gpu_slots
                )
                (wd / "command.txt").write_text(" ".join(argv) + "\n")
                (wd / "commit.txt").write_text(_git_commit() + "\n")  # the code this arm runs (learn report)
                logf = open(wd / "learn.log", "a")
                logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n")
                logf.flush()
                procs[arm] = subprocess.Popen(
                    argv,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    start_new_session=True,
                    pass_fds=(lock,),
                )
                os.close(lock)  # the child's copy holds the lock from here on
                print(f"[learn] {args.experiment}/{arm}: started (log {wd / 'learn.log'})", flush=True)
            for arm, p in list(procs.items()):
                if p.poll() is not None:
                    status[arm] = "done" if p.returncode == 0 else f"failed (rc {p.returncode})"
                    print(
                        f"[learn] {args.experiment}/{arm}: {status[arm]} after {time.time() - t0:.0f} s",
                        flush=True,
                    )
                    del procs[arm]
            if deadline and time.time() > deadline:
                stopped = "at the time limit"
                break
            time.sleep(2)
    except _Stop as e:
        stopped = f"by {e}"
    finally:
        for s_ in old:
            signal.signal(s_, signal.SIG_IGN)  # a second signal must not cut the stop short
    if stopped:
        stop_all(procs)
        for arm in procs:
            status[arm] = f"stopped {stopped} (resumes on the next run)"
            print(f"[learn] {args.experiment}/{arm}: {status[arm]}", flush=True)
        for arm in pending:
            status[arm] = f"not started (stopped {stopped})"
    for s_, h in old.items():
        signal.signal(s_, h)
    (base / "status.json").write_text(json.dumps(status, indent=1) + "\n")
    return 0 if all(s == "done" for s in status.values()) else 3


def _git_commit() -> str:
    """The checkout's short commit, `-dirty` when tracked files differ from it."""

    def git(*a):
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "-uno") else "")


# ---------------------------------------------------------------- report


def _curve(metrics: Path) -> list[dict]:
    from r1.heldout import read_curve

    return read_curve(metrics) if metrics.exists() else []


def _stage_paths(wd: Path, stage: str) -> tuple[Path, Path]:
    """Where a reported stage writes and its Snakemake benchmark file: results/<stage>/, or a distilled
    student's folder (distill_<name>)."""
    from r1.pipeline import student_name

    name = student_name(stage)
    if name:
        return wd / f"results/distill/students/{name}", wd / f"benchmarks/distill/student_{name}.tsv"
    return wd / f"results/{stage}", wd / f"benchmarks/{stage}/{stage}.tsv"


def _checkpoint_metrics(wd: Path, stage: str) -> Path:
    folder = _stage_paths(wd, stage)[0]
    done = folder / "metrics.jsonl"
    return done if done.exists() else folder / "checkpoints" / "metrics.jsonl"


def _stages(exp: dict) -> list[str]:
    """The training stages whose held-out curves an experiment reports (`stage`: one name or a list)."""
    return [exp["stage"]] if isinstance(exp["stage"], str) else list(exp["stage"])


def _metric_rows(wd: Path, stage: str) -> list[dict]:
    """Every row of a stage's metrics.jsonl (the finished copy, else the checkpoints' live one)."""
    path = _checkpoint_metrics(wd, stage)
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def _bench_wall(bench_tsv: Path) -> float | None:
    """A job's wall seconds from its Snakemake benchmark file (the last row), None if it has none."""
    lines = bench_tsv.read_text().splitlines() if bench_tsv.exists() else []
    return float(lines[-1].split("\t")[0]) if len(lines) > 1 else None


def _mean(xs) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return round(sum(xs) / len(xs), 3) if xs else None


def _sum(xs) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return round(sum(xs), 3) if xs else None


def _max(xs) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return max(xs) if xs else None


def collect(runs: Path, exps: dict, commit: str, device: str) -> list[dict]:
    """One record per (experiment, arm, held-out benchmark) from the runs on disk."""
    records = []
    run_device = "cpu" if device.lower() == "cpu" else "gpu"  # learn run --device; `device` is a label
    for name, exp in exps.items():
        for arm, stage in ((a, st) for a in exp["arms"] for st in _stages(exp)):
            wd = runs / name / arm
            if not wd.exists():
                continue
            label = arm if len(_stages(exp)) == 1 else f"{arm}:{stage}"
            curve = _curve(_checkpoint_metrics(wd, stage))
            if not curve:
                continue
            benches = sorted({k.split("/")[1] for r in curve for k in r if k.startswith("heldout/")})
            first, last = curve[0], curve[-1]
            cmd = (wd / "command.txt").read_text().strip() if (wd / "command.txt").exists() else ""
            ran = (wd / "commit.txt").read_text().strip() if (wd / "commit.txt").exists() else commit
            folder, bench_tsv = _stage_paths(wd, stage)
            wall = _bench_wall(bench_tsv)
            rows = _metric_rows(wd, stage)
            train = [r for r in rows if "loss" in r]
            runtime = next((r["train_runtime"] for r in reversed(rows) if "train_runtime" in r), None)
            for b in benches:
                key = f"heldout/{b}"
                best = max((r for r in curve if f"{key}/pass@1" in r), key=lambda r: r[f"{key}/pass@1"])
                if f"{key}/pass@1" not in first or f"{key}/pass@1" not in last:
                    continue
                records.append(
                    {
                        "name": name,
                        "arm": label,
                        "device": device,
                        "model": (exp.get("models") or {}).get(label)
                        or exp.get("model", "SmolLM2-135M-Instruct"),
                        "stage": stage,
                        "heldout": b,
                        "n_heldout": int(last[f"{key}/n"]),
                        "base_acc": first[f"{key}/pass@1"],
                        "final_acc": last[f"{key}/pass@1"],
                        "base_ci95": [first[f"{key}/ci95_lo"], first[f"{key}/ci95_hi"]],
                        "final_ci95": [last[f"{key}/ci95_lo"], last[f"{key}/ci95_hi"]],
                        "base_answered": first.get(f"{key}/answered"),
                        "final_answered": last.get(f"{key}/answered"),
                        "steps": int(last["step"]),
                        "wall_s": wall,
                        "train_runtime_s": runtime,  # the trainer's own clock (the last chunk if resumed)
                        "mean_step_s": _mean(r.get("step_time") for r in train),
                        # every chunk's optimizer steps summed: the training seconds (E3's student time)
                        "train_steps_s": _sum(r.get("step_time") for r in train),
                        "peak_gpu_mem_gb": _max(r.get("peak_gpu_mem_gb") for r in train),
                        "peak_rss_gb": _max(r.get("peak_rss_gb") for r in train),
                        "finished": (folder / "manifest.json").exists(),
                        "command": f"python -m r1 learn run {name} --device {run_device} --arms {arm}",
                        "snakemake": cmd,
                        "commit": ran,  # written by learn run; else --commit, else HEAD
                        "best_step": best["step"],
                        "best_acc": best[f"{key}/pass@1"],
                        "nonfinite_skipped": max((r.get("nonfinite_skipped", 0) for r in train), default=0),
                        "curve": [
                            {
                                "step": r["step"],
                                "pass@1": r[f"{key}/pass@1"],
                                "ci95": [r[f"{key}/ci95_lo"], r[f"{key}/ci95_hi"]],
                            }
                            for r in curve
                            if f"{key}/pass@1" in r
                        ],
                    }
                )
    _compare_with_controls(records, exps)
    return records


def _compare_with_controls(records: list[dict], exps: dict) -> None:
    """Each arm's final held-out accuracy minus each control arm's (the experiment's `controls`), same
    held-out set, same step budget: `vs_controls` [{control, diff, ci95}] (Newcombe's interval,
    r1.eval.metrics.diff_ci95)."""
    from r1.eval.metrics import diff_ci95

    def budget(r):  # what a control must share with the arm it is compared with
        return r["name"], r["heldout"], r["n_heldout"], r["steps"]

    for r in records:
        controls = exps[r["name"]].get("controls") or []
        r["vs_controls"] = []
        for c in records:
            if c is r or c["arm"] not in controls or budget(c) != budget(r):
                continue
            n = r["n_heldout"]
            lo, hi = diff_ci95(round(r["final_acc"] * n), n, round(c["final_acc"] * n), n)
            r["vs_controls"].append(
                {"control": c["arm"], "diff": r["final_acc"] - c["final_acc"], "ci95": [lo, hi]}
            )


def plot(records: list[dict], out_dir: Path, device: str) -> list[Path]:
    """One figure per experiment, learning_<experiment>_<device>.png: held-out pass@1 per arm, with CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name in sorted({r["name"] for r in records}):
        recs = [r for r in records if r["name"] == name]
        benches = sorted({r["heldout"] for r in recs})
        # many arms: the legend beside the axes and 20 colours, so that no line is hidden or shares a colour
        crowded = len({r["arm"] for r in recs}) > 6
        width = 4.2 * len(benches) + (2.6 if crowded else 0)
        fig, axes = plt.subplots(1, len(benches), figsize=(width, 3.4), squeeze=False)
        for ax, b in zip(axes[0], benches, strict=True):
            if crowded:
                ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
            for r in (r for r in recs if r["heldout"] == b):
                xs = [p["step"] for p in r["curve"]]
                ys = [100 * p["pass@1"] for p in r["curve"]]
                lo = [100 * p["ci95"][0] for p in r["curve"]]
                hi = [100 * p["ci95"][1] for p in r["curve"]]
                (line,) = ax.plot(xs, ys, marker=".", label=r["arm"])
                ax.fill_between(xs, lo, hi, alpha=0.15, color=line.get_color())
            ax.set_title(f"{name}: held-out {b}")
            ax.set_xlabel("optimizer step of the stage")
            ax.set_ylabel("pass@1 (%), 95% CI")
            ax.grid(alpha=0.3)
        if crowded:
            axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            for ax in axes[0]:
                ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"learning_{name}_{device}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def copy_eval_tables(runs: Path, exps: dict, out: Path, commit: str, device: str) -> list[Path]:
    """Each whole-DAG arm's eval table (E4's, which has no held-out curves) as
    `eval_<EXP>_<arm>_<device>.md/.csv/.json` in `out`, the JSON with its command and commit: the
    pipeline's own outcome, in the results folder.

    A whole-DAG arm (target `all` / `distill_all`) stopped before its `eval_table` job (a lease ran out) gets
    the table of the evaluations it finished, built by the rule's own `build_table`, with `"complete": false`,
    so a partial run is reported as partial instead of not at all. Arms whose target has no table (E1-E3) get
    none."""
    import pandas as pd

    from r1.eval.table import build_table, to_markdown

    written = []
    for name in exps:
        for wd in sorted(p for p in (runs / name).glob("*") if (p / "results/eval").is_dir()):
            src, stem = wd / "results/eval", f"eval_{name}_{wd.name}_{device}"
            complete = (src / "table.csv").exists()
            whole_dag = exps[name]["target"] in WHOLE_DAG_TARGETS
            summaries = [] if complete or not whole_dag else sorted(src.glob("*/*/summary.json"))
            if complete:
                table = pd.read_csv(src / "table.csv")
                for ext in ("csv", "md"):
                    if (src / f"table.{ext}").exists():
                        shutil.copyfile(src / f"table.{ext}", out / f"{stem}.{ext}")
            elif summaries:
                table = build_table([json.loads(p.read_text()) for p in summaries])
                table.to_csv(out / f"{stem}.csv", index=False)
                n = len(summaries)
                head = f"Partial: the run stopped before `eval_table`; the {n} evaluations it finished.\n\n"
                (out / f"{stem}.md").write_text(head + to_markdown(table))
            else:
                continue
            command = wd / "command.txt"
            facts = {
                "experiment": name,
                "arm": wd.name,
                "device": device,
                "commit": commit,
                "command": command.read_text().strip() if command.exists() else None,
                "complete": complete,
                "n_rows": len(table),
                "rows": json.loads(table.to_json(orient="records")),
            }
            (out / f"{stem}.json").write_text(json.dumps(facts, indent=1) + "\n")
            written.append(out / f"{stem}.json")
    return written


def eval_table_records(table: Path, runs: Path, exps: dict) -> list[dict]:
    """learning.json records of a whole-DAG arm's eval table (E4, no held-out curves): one per trained model
    and benchmark with a pass@1, `base_acc` from the base model's row of the same benchmark, `steps` from the
    model's stage metrics and `wall_s` from its Snakemake benchmark file, so that E4 is checkable by a program
    like E1-E3. The benchmark is the `heldout` set; `curve` is empty."""
    facts = json.loads(table.read_text())
    wd = runs / facts["experiment"] / facts["arm"]
    exp = exps[facts["experiment"]]
    rows = [r for r in facts["rows"] if r.get("pass@1") is not None]
    base = {r["benchmark"]: r for r in rows if r["model"] == "base"}
    records = []
    for r in rows:
        b = base.get(r["benchmark"])
        if r["model"] == "base" or b is None:
            continue
        metrics = _metric_rows(wd, r["model"])
        records.append(
            {
                "name": facts["experiment"],
                "arm": f"{facts['arm']}:{r['model']}",
                "device": facts["device"],
                "model": exp.get("model", "SmolLM2-135M-Instruct"),
                "stage": r["model"],
                "heldout": r["benchmark"],
                "n_heldout": int(r["n_problems"]),
                "k": int(r["k"]),
                "base_acc": b["pass@1"],
                "final_acc": r["pass@1"],
                "base_ci95": [b["pass@1_ci95_lo"], b["pass@1_ci95_hi"]],
                "final_ci95": [r["pass@1_ci95_lo"], r["pass@1_ci95_hi"]],
                "steps": max((int(m["step"]) for m in metrics if "step" in m), default=None),
                "wall_s": _bench_wall(_stage_paths(wd, r["model"])[1]),
                "complete": facts["complete"],
                "command": f"python -m r1 learn run {facts['experiment']} --arms {facts['arm']}",
                "snakemake": facts["command"],
                "commit": facts["commit"],
                "source": table.name,
                "curve": [],
            }
        )
    return records


def report(args) -> int:
    exps = load_experiments()
    runs = Path(args.runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    commit = args.commit or _git_commit()
    records = collect(runs, exps, commit, args.device)
    tables = copy_eval_tables(runs, exps, out, commit, args.device)
    for t in tables:
        print(f"wrote {t}")
        records += eval_table_records(t, runs, exps)
    if not records:
        print(f"no held-out curves or eval-table records under {runs}", file=sys.stderr)
        return 0 if tables else 1
    target = out / args.name
    old = json.loads(target.read_text())["experiments"] if target.exists() and args.merge else []
    keep = [
        r
        for r in old
        if (r["name"], r["arm"], r["heldout"], r["device"])
        not in {(r["name"], r["arm"], r["heldout"], r["device"]) for r in records}
    ]
    allrec = keep + records
    target.write_text(json.dumps({"experiments": allrec}, indent=1) + "\n")
    for p in plot([r for r in allrec if r["device"] == args.device and r["curve"]], out, args.device):
        print(f"wrote {p}")
    print(f"wrote {target}")
    print(markdown_table(records))
    return 0


def markdown_table(records: list[dict]) -> str:
    def pct(x):
        return f"{100 * x:.1f}"

    lines = [
        "| exp | arm | held-out (n) | steps | base pass@1 [95% CI] | final pass@1 [95% CI] | Δ (points) |",
        "|---|---|---|---:|---|---|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r['name']} | {r['arm']} | {r['heldout']} ({r['n_heldout']}) | {r['steps']} | "
            f"{pct(r['base_acc'])} [{pct(r['base_ci95'][0])}, {pct(r['base_ci95'][1])}] | "
            f"{pct(r['final_acc'])} [{pct(r['final_ci95'][0])}, {pct(r['final_ci95'][1])}] | "
            f"{100 * (r['final_acc'] - r['base_acc']):+.1f} |"
        )
    compared = [(r, v) for r in records for v in r.get("vs_controls", [])]
    if compared:
        lines += [
            "",
            "| exp | arm | held-out (n) | steps | vs control | final pass@1 − control's (points) [95% CI] |",
            "|---|---|---|---:|---|---|",
        ]
        for r, v in compared:
            lines.append(
                f"| {r['name']} | {r['arm']} | {r['heldout']} ({r['n_heldout']}) | {r['steps']} | "
                f"{v['control']} | {100 * v['diff']:+.1f} "
                f"[{100 * v['ci95'][0]:+.1f}, {100 * v['ci95'][1]:+.1f}] |"
            )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m r1 learn", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or resume) an experiment's arms")
    r.add_argument("experiment")
    r.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    r.add_argument("--arms", help="comma-separated subset of arms")
    r.add_argument("--minutes", type=float, default=0, help="stop (resumably) after this many minutes")
    r.add_argument("--runs", default="runs")
    r.add_argument("--cores", type=int, default=2, help="Snakemake --cores per arm")
    r.add_argument(
        "--gpu-slots",
        type=int,
        default=GPU_SLOTS,
        help="GPU jobs at once per arm with --device gpu (Snakemake's gpu resource; they share the GPU)",
    )
    r.add_argument("--max-parallel", type=int, default=0, help="arms at once (default: all)")
    r.add_argument("--config", nargs="*", help="extra config overlays for every arm (e.g. a base_model path)")
    p = sub.add_parser("report", help="collect held-out curves into learning.json + plots")
    p.add_argument("--runs", default="runs")
    p.add_argument("--out", default="docs/results")
    p.add_argument("--name", default="learning.json")
    p.add_argument("--device", default="gpu")
    p.add_argument("--commit")
    p.add_argument("--merge", action="store_true", help="keep other records already in the file")
    return ap


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run(args) if args.cmd == "run" else report(args)
