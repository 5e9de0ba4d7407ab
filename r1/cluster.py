"""Where jobs run: config `resources:` groups -> Snakemake/Slurm resources, and multi-GPU launch argv.

Config (validated by r1/schemas/config.schema.yaml)::

    resources:
      default: {cpus: 2, mem_mb: 8000, runtime: 60}
      rl_zero: {gpus: 8, nodes: 2, gpu_model: a100, cpus_per_gpu: 8, mem_mb: 480000, runtime: 4320}

A group inherits every key it leaves unset (or null) from `default`. `gpus` counts GPUs *per node*
(the job holds gpus x nodes GPUs), `mem_mb` is memory per node, `runtime` is minutes; `partition` and
`account` become slurm_partition / slurm_account; `deepspeed` names the DeepSpeed JSON for launches.

The names returned by `snakemake_resources` are those of snakemake-executor-plugin-slurm 2.x:
  - one node:  gpu=N [gpu_model=M] [cpus_per_gpu=C] -> sbatch --gpus=[M:]N --cpus-per-gpu=C;
               the jobstep then runs the rule under `srun --gpus=N`, so it sees CUDA_VISIBLE_DEVICES of N.
  - K nodes:   gres="gpu[:M]:N" (per node; --gpus would be a job total that Slurm may split unevenly),
               nodes=K, mpi="srun", tasks=K, tasks_per_gpu=0 -> sbatch --gres=gpu:M:N --nodes=K --ntasks=K.
               With `mpi` set the jobstep runs the rule directly on the first node and the rule
               starts one launcher per node itself (`launch_argv`), because the jobstep strips
               SLURM_* variables except SLURM_JOB_ID.
Never `tasks` on one-node GPU rules (it would become --ntasks-per-gpu) and never `gpu` with `gres`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

GROUPS = (
    "default",
    "base_model",
    "data",
    "rl_zero",
    "cold_start_generate",
    "cold_start_sft",
    "rl_reasoning",
    "rejection_sampling",
    "sft",
    "sft_stabilize",
    "rl_final",
    "distill_generate",
    "distill_student",
    "eval_generate",
    "eval_table",
    "report",
)
KEYS = (
    "gpus",
    "gpu_model",
    "cpus_per_gpu",
    "cpus",
    "mem_mb",
    "runtime",
    "nodes",
    "partition",
    "account",
    "deepspeed",
)


class ClusterConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Placement:
    """One resource group after falling back to `default`."""

    group: str
    gpus: int = 0
    gpu_model: str | None = None
    cpus_per_gpu: int | None = None
    cpus: int = 1
    mem_mb: int | None = None
    runtime: int | None = None
    nodes: int = 1
    partition: str | None = None
    account: str | None = None
    deepspeed: str | None = None

    @property
    def total_gpus(self) -> int:
        return self.gpus * self.nodes


def placement(resources_cfg: Mapping | None, group: str) -> Placement:
    """Merge `resources.default` with `resources.<group>` key by key (null = inherit)."""
    if group not in GROUPS:
        raise ClusterConfigError(f"resources: unknown group '{group}'; known groups: {', '.join(GROUPS)}")
    resources_cfg = resources_cfg or {}
    merged: dict = {}
    for source in ("default", group):
        for key, value in (resources_cfg.get(source) or {}).items():
            if key not in KEYS:
                raise ClusterConfigError(
                    f"resources.{source}.{key}: unknown key; known keys: {', '.join(KEYS)}"
                )
            if value is not None:
                merged[key] = value
    p = Placement(group=group, **merged)
    where = f"resources.{group} (after falling back to resources.default)"
    for key in ("gpus", "cpus", "nodes"):
        value = getattr(p, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "gpus" else 1):
            raise ClusterConfigError(
                f"{where}: {key} must be an integer >= {0 if key == 'gpus' else 1}, got {value!r}"
            )
    if p.nodes > 1 and p.gpus == 0:
        raise ClusterConfigError(
            f"{where}: nodes={p.nodes} needs gpus >= 1 (multi-node jobs are GPU training jobs)"
        )
    return p


def snakemake_resources(resources_cfg: Mapping | None, group: str) -> dict:
    """The rule's `resources:` in snakemake-executor-plugin-slurm names; unset/zero values are left out."""
    p = placement(resources_cfg, group)
    out: dict = {}
    if p.mem_mb:
        out["mem_mb"] = int(p.mem_mb)
    if p.runtime:
        out["runtime"] = int(p.runtime)
    if p.partition:
        out["slurm_partition"] = p.partition
    if p.account:
        out["slurm_account"] = p.account
    out["nodes"] = p.nodes
    if p.gpus:
        if p.nodes > 1:
            out["gres"] = f"gpu:{p.gpu_model}:{p.gpus}" if p.gpu_model else f"gpu:{p.gpus}"
            out.update(mpi="srun", tasks=p.nodes, tasks_per_gpu=0)
        else:
            out["gpu"] = p.gpus
            if p.gpu_model:
                out["gpu_model"] = p.gpu_model
        if p.cpus_per_gpu:
            out["cpus_per_gpu"] = p.cpus_per_gpu
    return out


def threads_for(resources_cfg: Mapping | None, group: str) -> int:
    """CPUs the job may use on its (first) node: gpus x cpus_per_gpu for GPU jobs that set it, else `cpus`."""
    p = placement(resources_cfg, group)
    if p.gpus and p.cpus_per_gpu:
        return p.gpus * p.cpus_per_gpu
    return max(1, int(p.cpus))


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
    """argv that runs `python -m <module_argv>` as n_gpus processes per node on `nodes` nodes; None = one process.

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
    """launch_argv for a running job from its Snakemake resources (`gpu`, or `gres` + `nodes` on multi-node)."""
    gpus, nodes = granted(resources)
    cpus = gpus * int(resources.get("cpus_per_gpu") or 0) or None
    return launch_argv(gpus, nodes, module_argv, deepspeed_config, cpus_per_node=cpus if nodes > 1 else None)
