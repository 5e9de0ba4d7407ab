"""Where jobs run: config `resources:` groups -> Snakemake/Slurm resources (at DAG load; r1.launch starts
them).

Config (validated at DAG load by r1/config.py)::

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
               starts one launcher per node itself (`r1.launch.launch_argv`), because the jobstep strips
               SLURM_* variables except SLURM_JOB_ID.
Never `tasks` on one-node GPU rules (it would become --ntasks-per-gpu) and never `gpu` with `gres`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from r1.pipeline import resource_groups

GROUPS = resource_groups()  # `default` and every stage's group (the stage table, r1/pipeline.py)


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


KEYS = tuple(f.name for f in dataclasses.fields(Placement) if f.name != "group")


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
