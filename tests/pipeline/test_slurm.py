"""The tiny DAG on a REAL single-node Slurm (started by .ci/slurm/start-slurm.sh with fake GPUs).

- `snakemake distill_all --profile profiles/slurm` succeeds and its artifacts equal the local run's
  (same files, same bytes, same manifests except host/time/Slurm job id/visible devices);
- from Slurm's own records (sacct ReqTRES, per job) each GPU rule asked for the GPUs its config group
  says, and its manifest saw CUDA_VISIBLE_DEVICES of that size; CPU rules asked for and saw none;
- a training job suspended and `scancel`ed mid-run is retried by Snakemake and resumes from its last
  checkpoint: the steps before it are kept, not redone; the retry, requeued by Slurm (`scontrol requeue`,
  as preemption does), resumes again under the same job id. One run does both.

The Slurm DAG run does not wait for the local reference run: with pytest-xdist (`make test`) they run
at the same time on two workers; the comparison test waits for both.

Skipped only where Slurm cannot run at all (not root, or neither Slurm nor apt-get); with
R1_REQUIRE_SLURM=1 (CI) that is a failure instead. Other runs may share this Slurm: every query is
filtered by this test's job-name prefix and working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from r1 import cluster, pipeline
from tests.conftest import REPO, SNAKEMAKE, TINY, copy_repo, copy_run

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

START_SLURM = REPO / ".ci/slurm/start-slurm.sh"
# snakemake with the plugin's status polling at the interval the command line asks (no back-off)
SLURM_SNAKEMAKE = REPO / "tests/pipeline/slurm_snakemake.py"
# 4 fake GPUs (char devices, see start-slurm.sh) and 4 CPUs advertised on the 2-core CI machine.
FAKE_NODE = {"SLURM_LOCAL_GPUS": "4", "SLURM_LOCAL_CPUS": "4", "SLURM_LOCAL_GPU_TYPE": "h200"}

# GPUs per config group for the placement run. Only `resources` changes, so every rule's params (and
# so every artifact) stay those of the local run: with no usable CUDA device a job granted N GPUs
# runs as one CPU process (r1.launch.launch_argv caps N at the devices torch can use).
GPU_RESOURCES = {
    "rl_zero": {"gpus": 2, "gpu_model": "h200"},
    "rl_reasoning": {"gpus": 2},
    "cold_start_generate": {"gpus": 1},
    "cold_start_sft": {"gpus": 1},
    "rejection_sampling": {"gpus": 1},
    "sft": {"gpus": 2},
    "sft_stabilize": {"gpus": 1},
    "rl_final": {"gpus": 2},
    "distill_generate": {"gpus": 1},
    "distill_student": {"gpus": 2},
    "eval_generate": {"gpus": 1},
}
# Which config group places each rule: the stage table's (r1/pipeline.py).
RULE_GROUP = {s.rule: s.resource_group for s in pipeline.STAGES}
# Manifest keys that legitimately differ between two runs of the same DAG on different executors.
VOLATILE = {"host", "started", "finished", "command", "slurm_job_id", "cuda_visible_devices"}
# Wall-clock values inside artifacts (trainer/eval timings, report timestamps): equal runs differ only here.
# Measurements of the machine, not of the model: wall clock and peak memory (r1.checkpoints.peak_memory).
TIMING_KEY = re.compile(r"(seconds|runtime|per_second|step_time|^peak_\w+_gb)$")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")


def _slurm_unavailable() -> str | None:
    if sys.platform != "linux":
        return "Slurm needs Linux"
    if os.geteuid() != 0:
        return "start-slurm.sh must run as root to install and configure Slurm"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "no Slurm installed and no apt-get to install it"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> dict:
    """A running single-node Slurm advertising FAKE_NODE (idempotent: ~0.4 s when already up)."""
    reason = _slurm_unavailable()
    if reason:
        if os.environ.get("R1_REQUIRE_SLURM") == "1":
            pytest.fail(f"R1_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(START_SLURM)],
        env={**os.environ, **FAKE_NODE},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        pytest.fail(
            f"start-slurm.sh failed ({proc.returncode}) after {seconds:.0f}s:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    print(f"\n[slurm] start-slurm.sh took {seconds:.1f}s\n{proc.stdout.strip().splitlines()[-1]}")
    return {"start_seconds": seconds}


def _write_overlay(workdir: Path, name: str, overlay: dict) -> str:
    path = workdir / "tests/configs" / name
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return str(path.relative_to(workdir))


def _merged_config(workdir: Path, *overlays: str) -> dict:
    from snakemake.utils import update_config

    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    for path in (TINY, *overlays):
        update_config(cfg, yaml.safe_load((workdir / path).read_text()))
    return cfg


def _slurm_cmd(workdir: Path, prefix: str, target: str, *overlays: str) -> list[str]:
    # targets go first: --configfile takes every following word until the next option
    return [
        sys.executable,
        str(SLURM_SNAKEMAKE),
        target,
        "--profile",
        "profiles/slurm",
        "--configfile",
        "config.yaml",
        TINY,
        *overlays,
        "--slurm-jobname-prefix",
        prefix,
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        "--slurm-keep-successful-logs",
        "--latency-wait",
        "5",
        "--jobs",
        "4",
    ]


def _run_env() -> dict:
    return {**os.environ, "R1_NO_PROGRESS": "1"}


def _sacct_jobs(workdir: Path, prefix: str, since: float) -> list[dict]:
    """This test's jobs only (job name prefix + working directory), oldest first, from slurmdbd."""
    fields = ["JobIDRaw", "JobName", "Comment", "WorkDir", "ReqTRES", "AllocTRES", "State", "ExitCode"]
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 120))
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", start, "--format=" + ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in out.splitlines():
        row = dict(zip(fields, line.split("|"), strict=False))
        if row.get("JobName", "").startswith(prefix + "_") and row.get("WorkDir") == str(workdir):
            comment = row["Comment"]
            row["rule"] = comment.removeprefix("rule_").split("_wildcards_")[0]
            jobs.append(row)
    return sorted(jobs, key=lambda r: int(r["JobIDRaw"]))


def _tres(tres: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in tres.split(",") if "=" in kv)


def _manifests(workdir: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(workdir)): json.loads(p.read_text())
        for p in sorted((workdir / "results").rglob("manifest.json"))
    }


def _drop_timings(obj):
    if isinstance(obj, dict):
        return {k: _drop_timings(v) for k, v in obj.items() if not TIMING_KEY.search(k)}
    if isinstance(obj, list):
        return [_drop_timings(v) for v in obj]
    return obj


def _normalized(path: Path) -> bytes:
    """File content without wall-clock values: timing keys in JSON/JSONL, ISO timestamps in text."""
    if path.suffix == ".json":
        return json.dumps(_drop_timings(json.loads(path.read_text())), sort_keys=True).encode()
    if path.suffix == ".jsonl":
        rows = [_drop_timings(json.loads(x)) for x in path.read_text().splitlines() if x.strip()]
        return "\n".join(json.dumps(r, sort_keys=True) for r in rows).encode()
    if path.suffix in (".html", ".md", ".csv", ".txt"):
        return ISO_TIME.sub("<time>", path.read_text()).encode()
    return path.read_bytes()


def _result_files(workdir: Path) -> dict[str, Path]:
    """Every file under results/ but manifests, resumable trainer state and TensorBoard event files (not
    artifacts; event files are named after the wall clock, host and pid: _tensorboard_dirs compares them)."""
    out = {}
    for p in sorted((workdir / "results").rglob("*")):
        rel = p.relative_to(workdir)
        skip = "checkpoints" in rel.parts or "tb" in rel.parts or p.name == "manifest.json"
        if p.is_file() and not skip:
            out[str(rel)] = p
    return out


def _tensorboard_dirs(workdir: Path) -> dict[str, int]:
    """Each stage's TensorBoard directory and how many event files it holds."""
    return {
        str(d.relative_to(workdir)): len(list(d.glob("events.out.tfevents.*")))
        for d in sorted((workdir / "results").rglob("tb"))
        if d.is_dir()
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def slurm_run(slurm_cluster, tmp_path_factory) -> dict:
    """One `snakemake distill_all --profile profiles/slurm` of the tiny config, GPUs placed per GPU_RESOURCES.

    It does not wait for the local reference run (`pipeline_run`): under pytest-xdist the two run at
    the same time on different workers, both from a copy of the checkout made at their start.
    """
    workdir = copy_repo(tmp_path_factory.mktemp("slurm_pipeline"))
    overlay = _write_overlay(workdir, "slurm-gpus.yaml", {"resources": GPU_RESOURCES})
    prefix = f"r1test_{uuid.uuid4().hex[:10]}"
    t0 = time.time()
    proc = subprocess.run(
        _slurm_cmd(workdir, prefix, "distill_all", overlay),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=3600,
        env=_run_env(),
        check=False,
    )
    seconds = time.time() - t0
    print(f"\n[slurm] snakemake distill_all --profile profiles/slurm took {seconds:.0f}s")
    if proc.returncode != 0:
        raise AssertionError(
            f"Slurm run failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return {
        "workdir": workdir,
        "prefix": prefix,
        "since": t0,
        "seconds": seconds,
        "log": proc.stdout + proc.stderr,
        "config": _merged_config(workdir, overlay),
    }


@pytest.mark.timeout(3600)
def test_slurm_run_all_jobs_succeeded(slurm_run):
    jobs = _sacct_jobs(slurm_run["workdir"], slurm_run["prefix"], slurm_run["since"])
    assert jobs, "no Slurm job of this run found in sacct"
    assert all(j["State"] == "COMPLETED" and j["ExitCode"] == "0:0" for j in jobs), [
        (j["JobIDRaw"], j["rule"], j["State"], j["ExitCode"]) for j in jobs
    ]
    rules = {j["rule"] for j in jobs}
    # every non-local rule of the DAG ran as a Slurm job; localrules (tables, report) stayed on the host
    for rule in (
        "base_model",
        "data_prepare",
        "rl_zero",
        "rl_reasoning",
        "sft",
        "distill_student",
        "eval_generate",
    ):
        assert rule in rules, f"{rule} never ran on Slurm: {sorted(rules)}"
    assert not rules & {"eval_table", "report_assets", "distill_all"}, rules
    assert (slurm_run["workdir"] / "results/report/manifest.json").exists()
    dry = subprocess.run(
        [SNAKEMAKE, "-n", "distill_all", "--configfile", "config.yaml", TINY],
        cwd=slurm_run["workdir"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]


@pytest.mark.timeout(3600)
def test_slurm_artifacts_equal_local_run(slurm_run, pipeline_run):
    """Same files; same bytes except wall-clock and peak-memory values; same manifests except host/time/job
    id/devices."""
    slurm_dir, local_dir = slurm_run["workdir"], pipeline_run
    local_files, slurm_files = _result_files(local_dir), _result_files(slurm_dir)
    assert sorted(slurm_files) == sorted(local_files)
    local_tb = _tensorboard_dirs(local_dir)
    assert local_tb and all(local_tb.values()), local_tb
    assert _tensorboard_dirs(slurm_dir) == local_tb
    timing_only = set()
    for rel, local_path in local_files.items():
        if _sha(local_path.read_bytes()) != _sha(slurm_files[rel].read_bytes()):
            assert _normalized(local_path) == _normalized(slurm_files[rel]), (
                f"{rel} differs between local and Slurm"
            )
            timing_only.add(rel)
    print(
        f"\n[slurm] {len(local_files)} artifacts equal; {len(timing_only)} differ only in wall-clock values:",
        sorted(timing_only),
    )
    local_m, slurm_m = _manifests(local_dir), _manifests(slurm_dir)
    assert sorted(slurm_m) == sorted(local_m)
    for path, lm in local_m.items():
        sm = slurm_m[path]
        for section in ("inputs", "outputs"):
            assert sorted(sm[section]) == sorted(lm[section]), (path, section)
            for f, h in lm[section].items():
                # an upstream manifest.json as input carries host/time: compared by name above
                if Path(f).name != "manifest.json":
                    assert sm[section][f] == h or f in timing_only, f"{path}: {section} {f} differs"
        rest = {"inputs", "outputs", "upstream_manifests"} | VOLATILE
        assert {k: v for k, v in sm.items() if k not in rest} == {
            k: v for k, v in lm.items() if k not in rest
        }, path
        # upstream manifests are hashed whole (host/time included): the same ones, not the same bytes
        assert sorted(sm.get("upstream_manifests", {})) == sorted(lm.get("upstream_manifests", {})), path
        assert sm.get("slurm_job_id") or sm["rule"] in ("eval_table", "report_assets"), path


@pytest.mark.timeout(3600)
def test_slurm_gpu_placement_from_slurm_records(slurm_run):
    """sacct ReqTRES per job == the config group's GPUs; the job's manifest saw that many devices."""
    res_cfg = slurm_run["config"]["resources"]
    jobs = _sacct_jobs(slurm_run["workdir"], slurm_run["prefix"], slurm_run["since"])
    by_job = {
        str(m["slurm_job_id"]): (path, m)
        for path, m in _manifests(slurm_run["workdir"]).items()
        if m.get("slurm_job_id")
    }
    seen_gpu_rules, seen_cpu_rules = set(), set()
    for job in jobs:
        assert job["rule"] in RULE_GROUP, f"rule {job['rule']} has no config group in RULE_GROUP"
        want = cluster.placement(res_cfg, RULE_GROUP[job["rule"]])
        req = _tres(job["ReqTRES"])
        asked = int(req.get("gres/gpu", 0))
        assert asked == want.gpus, (
            f"job {job['JobIDRaw']} ({job['rule']}) asked Slurm for {asked} GPUs, config says {want.gpus}"
        )
        if want.gpu_model:
            assert int(req.get(f"gres/gpu:{want.gpu_model}", 0)) == want.gpus, job
        assert int(_tres(job["AllocTRES"]).get("gres/gpu", 0)) == want.gpus, job
        path, manifest = by_job[job["JobIDRaw"]]
        devices = [d for d in (manifest.get("cuda_visible_devices") or "").split(",") if d]
        assert len(devices) == want.gpus, (
            f"{path}: saw CUDA_VISIBLE_DEVICES={devices}, config says {want.gpus} GPUs"
        )
        (seen_gpu_rules if want.gpus else seen_cpu_rules).add(job["rule"])
    assert {
        "rl_zero",
        "rl_reasoning",
        "sft",
        "distill_student",
        "eval_generate",
        "distill_generate",
    } <= seen_gpu_rules
    assert {"base_model", "data_prepare"} <= seen_cpu_rules
    summary = sorted({(j["rule"], _tres(j["ReqTRES"]).get("gres/gpu", "0")) for j in jobs})
    print("\n[slurm] rule -> GPUs asked (sacct ReqTRES):", summary)


def _checkpoints(work: Path) -> list[int]:
    done = [p for p in work.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return sorted(int(p.name.split("-")[-1]) for p in done)


def _running_job(prefix: str, workdir: Path, rule: str, not_in: set[str] = frozenset()) -> str | None:
    out = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%j|%k|%Z"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        job_id, name, comment, wd = line.split("|", 3)
        if (
            name.startswith(prefix + "_")
            and wd == str(workdir)
            and comment == f"rule_{rule}"
            and job_id not in not_in
        ):
            return job_id
    return None


def _scontrol_job(job_id: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout


def _metrics_rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# Training steps of the interrupted run, and the checkpoints after which it is interrupted (save_steps 2).
MAX_STEPS, SCANCEL_AFTER, REQUEUE_AFTER = 12, 4, 8


@pytest.fixture(scope="module")
def interrupted_training(slurm_run, tmp_path_factory) -> dict:
    """rl_zero on Slurm, interrupted twice: `scancel` after checkpoint 4, then `scontrol requeue` after 8.

    It runs in a copy of the finished Slurm run (base model and data are done; only rl_zero reruns, with
    its own step count). Before each interruption the job is frozen (`scontrol suspend`) and every line
    of the step log is marked with the attempt that wrote it: a resumed run keeps the marked lines up to
    its checkpoint and logs the later steps anew; a run that started over would have deleted them all.
    - scancel: the job ends CANCELLED; Snakemake's retry (`retries: 1`) submits a new job that resumes;
    - requeue (what Slurm does to a job preempted with PreemptMode=REQUEUE; the profile submits with
      --requeue): the same job id starts again and resumes.
    """
    workdir = copy_run(slurm_run["workdir"], tmp_path_factory.mktemp("slurm_interrupt") / "run")
    overlay = _write_overlay(
        workdir,
        "slurm-interrupt.yaml",
        {
            "retries": 1,
            # another step count than the DAG run's: rl_zero reruns from step 0, nothing else does
            "rl_zero": {
                "trl": {"max_steps": MAX_STEPS, "save_steps": 2, "save_total_limit": 2, "logging_steps": 1}
            },
            "resources": {"rl_zero": {"gpus": 1}},
        },
    )
    shutil.rmtree(workdir / "results/rl_zero", ignore_errors=True)
    prefix = f"r1test_{uuid.uuid4().hex[:10]}"
    t0 = time.time()
    log_path = workdir / "snakemake-interrupt.log"
    work = workdir / "results/rl_zero/checkpoints"
    metrics = work / "metrics.jsonl"
    train_log = workdir / "logs/rl_zero/rl_zero.log"

    def freeze_and_mark(job_id: str, attempt: int) -> int:
        subprocess.run(["scontrol", "suspend", job_id], check=True)
        kept = _checkpoints(work)[-1]
        assert kept < MAX_STEPS, f"training finished (checkpoint {kept}) before it could be interrupted"
        rows = _metrics_rows(metrics)
        assert rows and max(r["step"] for r in rows) >= kept
        metrics.write_text("".join(json.dumps({"_attempt": attempt, **r}) + "\n" for r in rows))
        return kept

    def running_at_checkpoint(step: int, not_in: set[str] = frozenset()) -> str:
        """The id of this run's rl_zero job, once it runs and has written checkpoint `step`."""
        deadline = time.time() + 900
        while time.time() < deadline and proc.poll() is None:
            job = _running_job(prefix, workdir, "rl_zero", not_in)
            if job and _checkpoints(work)[-1:] >= [step]:
                return job
            time.sleep(0.2)
        raise AssertionError(
            f"rl_zero never ran on Slurm to checkpoint {step}:\n" + log_path.read_text()[-4000:]
        )

    events = {}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            _slurm_cmd(workdir, prefix, "results/rl_zero/manifest.json", overlay),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_run_env(),
        )
    try:
        # 1. scancel after checkpoint 4
        cancelled = running_at_checkpoint(SCANCEL_AFTER)
        events["scancel_after"] = freeze_and_mark(cancelled, attempt=1)
        subprocess.run(["scancel", cancelled], check=True)
        events["cancelled"] = cancelled

        # 2. Snakemake's retry: a new job; requeue it after checkpoint 8
        retried = running_at_checkpoint(REQUEUE_AFTER, not_in={cancelled})
        events["requeue_after"] = freeze_and_mark(retried, attempt=2)
        # Snakemake starts each attempt with an empty rule log: the retry's, read while it is frozen
        events["retry_log"] = train_log.read_text()
        subprocess.run(["scontrol", "requeue", retried], check=True)
        events["requeued"] = retried
        # A job requeued while suspended comes back held (REQUEUE_HOLD, Reason=JobHeldAdmin) once its
        # processes are gone; a job requeued by preemption is not held: release it. Slurm makes a requeued
        # job eligible again only ~120 s later (its begin time), preempted or not: move that to now.
        for _ in range(600):
            info = _scontrol_job(retried)
            if "JobHeldAdmin" in info:
                subprocess.run(["scontrol", "release", retried], check=True)
            if "JobState=PENDING" in info and "JobHeldAdmin" not in info:
                subprocess.run(["scontrol", "update", f"JobId={retried}", "StartTime=now"], check=True)
            if "Restarts=1" in info and "JobState=RUNNING" in info:
                break
            time.sleep(0.2)
        events["restarts"] = re.search(r"Restarts=(\d+)", _scontrol_job(retried)).group(1)
        rc = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.send_signal(2)  # SIGINT: the plugin cancels this run's jobs
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = log_path.read_text()
    assert rc == 0, f"snakemake did not recover from the interruptions:\n{text[-6000:]}"
    print(f"\n[slurm] rl_zero scancel + requeue run took {time.time() - t0:.0f}s")
    return {
        **events,
        "jobs": [j for j in _sacct_jobs(workdir, prefix, t0) if j["rule"] == "rl_zero"],
        "restart_log": train_log.read_text(),
        "metrics": _metrics_rows(workdir / "results/rl_zero/metrics.jsonl"),
    }


@pytest.mark.timeout(2400)
def test_scancel_mid_training_retry_resumes_from_last_checkpoint(interrupted_training):
    """`scancel` a training job: Snakemake's retry (retries: 1) resumes it; the step counter continues."""
    run = interrupted_training
    kept = run["scancel_after"]
    retry_log = run["retry_log"]  # the retry's rule log, read when it was frozen for the requeue
    assert "resuming from checkpoint" in retry_log and f"(step {kept})" in retry_log, retry_log[-3000:]
    # one line per training step (plus the trainer's end-of-training summary, also at the last step)
    steps = [r["step"] for r in run["metrics"] if "train_runtime" not in r]
    assert steps == list(range(1, MAX_STEPS + 1)), steps
    assert [r["step"] for r in run["metrics"] if "train_runtime" in r] == [MAX_STEPS]
    # up to the checkpoint: the cancelled job's lines, kept; after it: trained again by the retry
    assert all(r.get("_attempt") == 1 for r in run["metrics"] if r["step"] <= kept), (
        "steps before the checkpoint were redone"
    )
    assert not any(r.get("_attempt") == 1 for r in run["metrics"] if r["step"] > kept), (
        "later steps were not retrained"
    )
    states = [(j["JobIDRaw"], j["State"].split()[0]) for j in run["jobs"]]
    assert states == [(run["cancelled"], "CANCELLED"), (run["requeued"], "COMPLETED")], states
    print(
        f"\n[slurm] scancel {run['cancelled']} after checkpoint {kept}; "
        f"retry job {run['requeued']} resumed at step {kept + 1}"
    )


@pytest.mark.timeout(2400)
def test_requeued_training_job_resumes_from_last_checkpoint(interrupted_training):
    """Preemption with requeue (`scontrol requeue`; the profile submits with --requeue): same job, resumed."""
    run = interrupted_training
    kept = run["requeue_after"]
    assert run["restarts"] == "1", run
    restart_log = run["restart_log"]  # the rule log of the requeued job's second start
    assert "resuming from checkpoint" in restart_log and f"(step {kept})" in restart_log, restart_log[-3000:]
    # the retry's lines up to the requeue checkpoint are kept; the later ones were written after the restart
    assert all(r.get("_attempt") in (1, 2) for r in run["metrics"] if r["step"] <= kept), (
        "steps before the checkpoint were redone"
    )
    assert not any("_attempt" in r for r in run["metrics"] if r["step"] > kept), (
        "later steps were not retrained"
    )
    # Slurm's records: the requeued job is the one that completed (no third job)
    assert [j["JobIDRaw"] for j in run["jobs"]][-1:] == [run["requeued"]], run["jobs"]
    print(f"\n[slurm] requeued {run['requeued']} after checkpoint {kept}; it resumed at step {kept + 1}")
