"""How a job granted GPUs runs: one process, or a launcher (accelerate / torchrun, srun across nodes) per
node.

A rule's Snakemake resources (built by r1.cluster from the config) say how many GPUs and nodes Slurm granted;
`job_launch_argv` turns them into the launcher command that runs `python -m r1 job SPEC` once per GPU.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def granted(resources: Mapping) -> tuple[int, int]:
    """(GPUs per node, nodes) from a job's Snakemake resources as built by `snakemake_resources`."""
    nodes = int(resources.get("nodes") or 1)
    gpus = int(resources.get("gpu") or 0)
    gres = str(resources.get("gres") or "")
    if not gpus and gres.startswith("gpu"):
        last = gres.split(":")[-1]
        gpus = int(last) if last.isdigit() else 1
    return gpus, nodes


def usable_gpus(n_gpus: int) -> int:
    """GPUs a launcher can really use here: 0 on a CPU box even when Slurm granted (fake) GPUs."""
    if n_gpus <= 0:
        return 0
    try:
        import torch
    except ImportError:
        return 0
    return min(n_gpus, torch.cuda.device_count()) if torch.cuda.is_available() else 0


def vllm_parallelism(n_gpus: int, nodes: int = 1) -> dict:
    """vLLM engine kwargs for a generation job granted n_gpus per node on `nodes` nodes."""
    return {"tensor_parallel_size": max(1, n_gpus), "pipeline_parallel_size": max(1, nodes)}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def resolve_deepspeed_config(path: str | os.PathLike) -> str:
    """Absolute path of a DeepSpeed JSON: as given, else relative to the repo (configs/deepspeed/...)."""
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    if not p.exists():
        raise FileNotFoundError(f"DeepSpeed config {path} not found (looked in {Path.cwd()} and {REPO_ROOT})")
    return str(p.resolve())


def _scontrol(*args: str) -> str:
    exe = shutil.which("scontrol")
    if exe is None:
        raise RuntimeError("multi-node launch needs `scontrol` on PATH (run inside a Slurm allocation)")
    return subprocess.run([exe, *args], check=True, capture_output=True, text=True).stdout


def job_hostnames(env: Mapping[str, str] | None = None) -> list[str]:
    """Hosts of the current Slurm job, head first.

    Inside a Snakemake jobstep SLURM_JOB_NODELIST is stripped; only SLURM_JOB_ID survives, so the
    node list is read back from `scontrol show job`.
    """
    env = os.environ if env is None else env
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        job_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
        if not job_id:
            raise RuntimeError("multi-node launch outside a Slurm job: SLURM_JOB_ID is not set")
        for field in _scontrol("show", "job", "-o", job_id).split():
            if field.startswith("NodeList="):
                nodelist = field.split("=", 1)[1]
                break
        if not nodelist or nodelist == "(null)":
            raise RuntimeError(f"scontrol show job {job_id} gave no NodeList")
    return _scontrol("show", "hostnames", nodelist).split()


def launch_argv(
    n_gpus: int,
    nodes: int,
    module_argv: list[str],
    deepspeed_config: str | None,
    *,
    hosts: list[str] | None = None,
    port: int | None = None,
    job_id: str | None = None,
    cpus_per_node: int | None = None,
    python: str | None = None,
    local_gpus: int | None = None,
) -> list[str] | None:
    """argv that runs `python -m <module_argv>` as n_gpus processes per node on `nodes` nodes; None = one
    process.

    One node: `accelerate launch --use_deepspeed` (with a DeepSpeed config) or `torchrun --standalone`,
    with n_gpus capped at the CUDA devices usable here (`local_gpus`, default: what torch sees), so
    the fake GPUs of the CI Slurm (or a CPU box) give one CPU process instead of N fighting over none.
    K nodes: `srun --nodes=K --ntasks-per-node=1` starting one launcher per node that rendezvous
    (c10d) at the head node; hosts/port/job_id are read from Slurm / picked when not given.
    """
    if n_gpus < 0 or nodes < 1:
        raise ValueError(f"launch_argv: need n_gpus >= 0 and nodes >= 1, got {n_gpus=} {nodes=}")
    if nodes == 1 and n_gpus > 1:
        n_gpus = min(n_gpus, usable_gpus(n_gpus) if local_gpus is None else local_gpus)
    if nodes == 1 and n_gpus <= 1:
        return None
    if nodes > 1 and n_gpus < 1:
        raise ValueError(f"launch_argv: {nodes} nodes without GPUs; multi-node jobs need n_gpus >= 1")
    if not module_argv:
        raise ValueError("launch_argv: module_argv must name the module to run, e.g. ['r1', 'job', SPEC]")
    python = python or sys.executable
    world = n_gpus * nodes
    if nodes == 1:
        head = None
        port = port or free_port()
    else:
        if hosts is None:
            hosts = job_hostnames()
        if len(hosts) < nodes:
            raise RuntimeError(f"launch_argv: job has {len(hosts)} host(s) {hosts}, need {nodes}")
        head = hosts[0]
        port = port or free_port()
        job_id = job_id or os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID")
        if not job_id:
            raise RuntimeError("multi-node launch outside a Slurm job: SLURM_JOB_ID is not set")

    if deepspeed_config:
        launcher = [
            python,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(world),
            "--num_machines",
            str(nodes),
            "--use_deepspeed",
            "--deepspeed_config_file",
            resolve_deepspeed_config(deepspeed_config),
            "--dynamo_backend",
            "no",
        ]
        if nodes == 1:
            launcher += ["--main_process_port", str(port)]
        else:
            launcher += [
                "--rdzv_backend",
                "c10d",
                "--main_process_ip",
                head,
                "--main_process_port",
                str(port),
            ]
    else:
        launcher = [python, "-m", "torch.distributed.run", "--nproc_per_node", str(n_gpus)]
        if nodes == 1:
            launcher += ["--standalone"]
        else:
            launcher += [
                "--nnodes",
                str(nodes),
                "--rdzv_backend",
                "c10d",
                "--rdzv_endpoint",
                f"{head}:{port}",
                "--rdzv_id",
                str(job_id),
            ]
    launcher += ["-m", *module_argv]
    if nodes == 1:
        return launcher
    srun = [
        "srun",
        f"--jobid={job_id}",
        f"--nodes={nodes}",
        f"--ntasks={nodes}",
        "--ntasks-per-node=1",
        f"--gpus-per-node={n_gpus}",
        "--kill-on-bad-exit=1",
        "--cpu-bind=none",
    ]
    if cpus_per_node:
        srun.append(f"--cpus-per-task={cpus_per_node}")
    return srun + launcher


def job_launch_argv(
    resources: Mapping, module_argv: list[str], deepspeed_config: str | None
) -> list[str] | None:
    """launch_argv for a running job from its Snakemake resources (`gpu`, or `gres` + `nodes`)."""
    gpus, nodes = granted(resources)
    cpus = gpus * int(resources.get("cpus_per_gpu") or 0) or None
    return launch_argv(gpus, nodes, module_argv, deepspeed_config, cpus_per_node=cpus if nodes > 1 else None)
