"""r1/cluster.py (config groups -> Slurm plugin resources -> sbatch flags), r1/launch.py (launcher argv)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from r1 import cluster, launch
from r1.benchmarks import MATH500_PATH
from r1.cluster import ClusterConfigError, snakemake_resources, threads_for
from r1.launch import launch_argv

REPO = Path(__file__).resolve().parents[2]

CFG = {
    "default": {"gpus": 0, "cpus": 2, "mem_mb": 8000, "runtime": 60, "partition": "cpu"},
    "rl_zero": {
        "gpus": 8,
        "nodes": 2,
        "gpu_model": "a100",
        "cpus_per_gpu": 8,
        "mem_mb": 480000,
        "runtime": 4320,
        "partition": "gpu",
    },
    "sft": {"gpus": 8, "gpu_model": "a100", "cpus_per_gpu": 8, "mem_mb": 480000},
    "distill_student": {"gpus": 4, "gpu_model": None, "cpus": 16},
    "eval_generate": {"gpus": 1},
    "report": {"cpus": 1, "mem_mb": 1000},
}


# ---------------------------------------------------------------- resource mapping --
def test_cpu_group_falls_back_to_default_and_asks_no_gpu():
    res = snakemake_resources(CFG, "data")  # not in CFG -> default
    assert res == {"mem_mb": 8000, "runtime": 60, "slurm_partition": "cpu", "nodes": 1}
    assert threads_for(CFG, "data") == 2
    assert not {"gpu", "gres", "gpu_model", "tasks", "mpi"} & set(res)


def test_cpu_group_override_keeps_inherited_keys():
    assert snakemake_resources(CFG, "report") == {
        "mem_mb": 1000,
        "runtime": 60,
        "slurm_partition": "cpu",
        "nodes": 1,
    }
    assert threads_for(CFG, "report") == 1


def test_single_node_gpu_group():
    res = snakemake_resources(CFG, "sft")
    assert res == {
        "mem_mb": 480000,
        "runtime": 60,
        "slurm_partition": "cpu",
        "nodes": 1,
        "gpu": 8,
        "gpu_model": "a100",
        "cpus_per_gpu": 8,
    }
    assert "tasks" not in res and "gres" not in res
    assert threads_for(CFG, "sft") == 64


def test_null_inherits_and_gpu_without_cpus_per_gpu_uses_cpus():
    res = snakemake_resources(CFG, "distill_student")
    assert res["gpu"] == 4 and "gpu_model" not in res and "cpus_per_gpu" not in res
    assert threads_for(CFG, "distill_student") == 16
    assert snakemake_resources(CFG, "eval_generate")["gpu"] == 1
    assert threads_for(CFG, "eval_generate") == 2


def test_multi_node_gpu_group_uses_per_node_gres_and_srun_geometry():
    res = snakemake_resources(CFG, "rl_zero")
    assert res == {
        "mem_mb": 480000,
        "runtime": 4320,
        "slurm_partition": "gpu",
        "nodes": 2,
        "gres": "gpu:a100:8",
        "mpi": "srun",
        "tasks": 2,
        "tasks_per_gpu": 0,
        "cpus_per_gpu": 8,
    }
    assert "gpu" not in res  # never both gpu and gres
    assert launch.granted(res) == (8, 2)
    assert threads_for(CFG, "rl_zero") == 64


def test_account_maps_to_slurm_account():
    res = snakemake_resources({"default": {"account": "proj42"}, "sft": {"gpus": 1}}, "sft")
    assert res["slurm_account"] == "proj42" and res["gpu"] == 1


def test_missing_resources_section_and_missing_default():
    assert snakemake_resources(None, "data") == {"nodes": 1}
    assert threads_for({}, "sft") == 1


@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"default": {"gpus": -1}}, "gpus must be an integer >= 0"),
        ({"default": {"nodes": 0}}, "nodes must be an integer >= 1"),
        ({"default": {"gpus": 0, "nodes": 2}}, "needs gpus >= 1"),
        ({"default": {"gpu": 1}}, "resources.default.gpu: unknown key"),
        ({"default": {"cpus": "4"}}, "cpus must be an integer"),
    ],
)
def test_bad_groups_say_where(bad, msg):
    with pytest.raises(ClusterConfigError, match=msg):
        snakemake_resources(bad, "sft")


def test_unknown_group():
    with pytest.raises(ClusterConfigError, match="unknown group 'rl_zer'"):
        snakemake_resources(CFG, "rl_zer")


def test_groups_and_keys_match_the_stage_table_and_the_config():
    from r1.config import ResourceGroup
    from r1.pipeline import STAGES

    assert set(cluster.GROUPS) == {"default"} | {s.resource_group for s in STAGES}
    assert set(ResourceGroup.model_fields) == set(cluster.KEYS)


# ------------------------------------------- what the Slurm plugin submits for them --
def _sbatch_flags(resources: dict, threads: int) -> str:
    """The plugin's own sbatch command for a job with these resources (no Slurm needed)."""
    submit_string = pytest.importorskip("snakemake_executor_plugin_slurm.submit_string")
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Res(dict):
        __getattr__ = dict.__getitem__

    job = SimpleNamespace(resources=Res(resources), threads=threads, name="r", wildcards={})
    params = {
        "run_uuid": "u",
        "slurm_logfile": "l",
        "comment_str": "rule_r",
        "account": "",
        "partition": "",
        "workdir": None,
    }
    return submit_string.get_submit_command(job, params) + set_gres_string(job)


def test_plugin_flags_single_node_gpu():
    call = _sbatch_flags(snakemake_resources(CFG, "sft"), threads_for(CFG, "sft"))
    assert "--gpus=a100:8" in call and "--cpus-per-gpu=8" in call and "--mem 480000" in call
    assert "--ntasks" not in call and "--gres" not in call and "--cpus-per-task" not in call


def test_plugin_flags_multi_node_gpu():
    call = _sbatch_flags(snakemake_resources(CFG, "rl_zero"), threads_for(CFG, "rl_zero"))
    assert "--gres=gpu:a100:8" in call and "--nodes=2" in call and "--ntasks=2" in call
    assert "--gpus" not in call and "--ntasks-per-gpu" not in call and "--cpus-per-gpu=8" in call
    assert "-t 4320" in call


def test_plugin_flags_cpu_rule():
    call = _sbatch_flags(snakemake_resources(CFG, "data"), threads_for(CFG, "data"))
    assert "--ntasks=1" in call and "--cpus-per-task=2" in call
    assert "gpu" not in call and "gres" not in call


# ------------------------------------------------------------------------ launch --
def test_one_process_cases():
    assert launch_argv(0, 1, ["r1", "job", "s.json"], None) is None
    assert launch_argv(1, 1, ["r1", "job", "s.json"], "configs/deepspeed/zero2.json") is None


def test_single_node_deepspeed_uses_accelerate():
    argv = launch_argv(
        4,
        1,
        ["r1", "job", "/x/spec.json"],
        "configs/deepspeed/zero3.json",
        port=29555,
        python="py",
        local_gpus=8,
    )
    assert argv == [
        "py",
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "4",
        "--num_machines",
        "1",
        "--use_deepspeed",
        "--deepspeed_config_file",
        str(REPO / "configs/deepspeed/zero3.json"),
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29555",
        "-m",
        "r1",
        "job",
        "/x/spec.json",
    ]


def test_single_node_without_deepspeed_uses_torchrun():
    argv = launch_argv(2, 1, ["r1", "job", "s.json"], None, python="py", local_gpus=2)
    assert argv == [
        "py",
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "r1",
        "job",
        "s.json",
    ]


def test_multi_node_torchrun_geometry():
    argv = launch_argv(
        8,
        2,
        ["r1", "job", "logs/rl_zero/spec.json"],
        None,
        hosts=["gpu-a", "gpu-b"],
        port=29600,
        job_id="4242",
        cpus_per_node=64,
        python="py",
    )
    assert argv == [
        "srun",
        "--jobid=4242",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--gpus-per-node=8",
        "--kill-on-bad-exit=1",
        "--cpu-bind=none",
        "--cpus-per-task=64",
        "py",
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "8",
        "--nnodes",
        "2",
        "--rdzv_backend",
        "c10d",
        "--rdzv_endpoint",
        "gpu-a:29600",
        "--rdzv_id",
        "4242",
        "-m",
        "r1",
        "job",
        "logs/rl_zero/spec.json",
    ]


def test_multi_node_deepspeed_geometry():
    argv = launch_argv(
        8,
        2,
        ["r1", "job", "s.json"],
        "configs/deepspeed/zero3.json",
        hosts=["a", "b"],
        port=29601,
        job_id="7",
        python="py",
    )
    assert argv[:8] == [
        "srun",
        "--jobid=7",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--gpus-per-node=8",
        "--kill-on-bad-exit=1",
        "--cpu-bind=none",
    ]
    launcher = argv[8:]
    assert launcher[:3] == ["py", "-m", "accelerate.commands.launch"]
    joined = " ".join(launcher)
    assert "--num_processes 16 --num_machines 2" in joined
    assert "--rdzv_backend c10d --main_process_ip a --main_process_port 29601" in joined
    assert launcher[-4:] == ["-m", "r1", "job", "s.json"]


def test_multi_node_errors():
    with pytest.raises(RuntimeError, match="need 3"):
        launch_argv(8, 3, ["r1"], None, hosts=["a", "b"], job_id="1")
    with pytest.raises(ValueError, match="without GPUs"):
        launch_argv(0, 2, ["r1"], None, hosts=["a", "b"], job_id="1")
    with pytest.raises(ValueError, match="module_argv"):
        launch_argv(2, 1, [], None, local_gpus=2)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        launch_argv(2, 1, ["r1"], "nope.json", local_gpus=2)


def test_hostnames_from_scontrol_when_jobstep_stripped_the_nodelist(tmp_path, monkeypatch):
    """Inside the Snakemake jobstep only SLURM_JOB_ID survives: the node list comes from scontrol."""
    fake = tmp_path / "scontrol"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "show job" ]; then echo "JobId=$4 JobName=x NodeList=gpu-[3-4] BatchHost=gpu-3"; fi\n'
        'if [ "$1 $2" = "show hostnames" ] && [ "$3" = "gpu-[3-4]" ]; then printf "gpu-3\\ngpu-4\\n"; fi\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("SLURM_JOB_NODELIST", raising=False)
    monkeypatch.delenv("SLURM_NODELIST", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    assert launch.job_hostnames() == ["gpu-3", "gpu-4"]
    argv = launch_argv(4, 2, ["r1", "job", "s.json"], None, port=1234)
    assert "--jobid=99" in argv and "gpu-3:1234" in argv and "--rdzv_id" in argv


def test_launch_counts_only_usable_gpus(monkeypatch):
    monkeypatch.setattr(launch, "usable_gpus", lambda n: 0)  # fake GPUs of the CI Slurm, or a CPU box
    assert launch_argv(4, 1, ["r1", "job", "s"], None) is None
    assert launch.job_launch_argv({"gpu": 4, "nodes": 1}, ["r1", "job", "s"], None) is None
    assert launch_argv(4, 1, ["r1", "job", "s"], None, local_gpus=2)[4] == "2"  # capped at what is here
    monkeypatch.setattr(launch, "usable_gpus", lambda n: n)
    argv = launch.job_launch_argv({"gpu": 4, "nodes": 1}, ["r1", "job", "s"], None)
    assert argv[argv.index("--nproc_per_node") + 1] == "4"


def test_job_launch_argv_multi_node_from_gres(monkeypatch):
    """The job runner's call: resources as rules/common.smk built them -> srun geometry with 8 per node."""
    monkeypatch.setattr(launch, "job_hostnames", lambda: ["gpu-a", "gpu-b"])
    monkeypatch.setenv("SLURM_JOB_ID", "31")
    argv = launch.job_launch_argv(
        snakemake_resources(CFG, "rl_zero"), ["r1", "job", "s"], "configs/deepspeed/zero3.json"
    )
    assert argv[:9] == [
        "srun",
        "--jobid=31",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--gpus-per-node=8",
        "--kill-on-bad-exit=1",
        "--cpu-bind=none",
        "--cpus-per-task=64",
    ]
    assert argv[argv.index("--num_processes") + 1] == "16"
    assert argv[argv.index("--main_process_ip") + 1] == "gpu-a"


def test_vllm_parallelism():
    assert launch.vllm_parallelism(4) == {"tensor_parallel_size": 4, "pipeline_parallel_size": 1}
    assert launch.vllm_parallelism(0, 1)["tensor_parallel_size"] == 1


def test_usable_gpus_on_this_machine():
    import torch

    expected = min(3, torch.cuda.device_count()) if torch.cuda.is_available() else 0
    assert launch.usable_gpus(3) == expected
    assert launch.usable_gpus(0) == 0


def test_torchrun_argv_really_starts_n_processes(tmp_path):
    """The single-node torchrun argv starts N ranks of `python -m <module>` (gloo on CPU)."""
    mod = tmp_path / "rankprobe.py"
    mod.write_text(
        "import json, os, sys\n"
        "out = sys.argv[1]\n"
        "with open(f\"{out}/{os.environ['RANK']}.json\", 'w') as f:\n"
        "    json.dump({k: os.environ[k] for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK')}, f)\n"
    )
    argv = launch_argv(2, 1, ["rankprobe", str(tmp_path)], None, local_gpus=2)
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    subprocess.run(argv, check=True, env=env, timeout=120, capture_output=True)
    ranks = sorted(json.loads(p.read_text())["RANK"] for p in tmp_path.glob("*.json"))
    assert ranks == ["0", "1"]
    assert {json.loads(p.read_text())["WORLD_SIZE"] for p in tmp_path.glob("*.json")} == {"2"}


# ------------------------------------------------------------------ configs/files --
@pytest.mark.parametrize("name", ["zero2.json", "zero3.json"])
def test_deepspeed_configs_use_hf_auto_values(name):
    ds = json.loads((REPO / "configs/deepspeed" / name).read_text())
    assert ds["zero_optimization"]["stage"] == int(name[4])
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
        assert ds[key] == "auto"
    assert ds["bf16"]["enabled"] == "auto"


def test_profiles_are_valid_snakemake_profiles():
    slurm = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert "cpus_per_task" not in slurm["default-resources"]
    assert {"runtime", "mem_mb"} <= set(slurm["default-resources"])
    local = yaml.safe_load((REPO / "profiles/local/config.yaml").read_text())
    assert local["cores"] == "all" and any(r.startswith("gpu=") for r in local["resources"])


def test_install_slurm_profile_links_into_xdg_config(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    script = REPO / "scripts/install-slurm-profile.sh"
    subprocess.run(["bash", script], check=True, env=env, capture_output=True)
    link = tmp_path / "snakemake/slurm"
    assert link.is_symlink() and link.resolve() == (REPO / "profiles/slurm").resolve()
    assert (
        subprocess.run(["bash", script], check=False, env=env, capture_output=True).returncode == 0
    )  # idempotent
    assert (
        subprocess.run(["bash", script, "--check"], check=False, env=env, capture_output=True).returncode == 0
    )
    other = tmp_path / "snakemake/other"
    other.mkdir()
    env2 = {**env, "PROFILE_NAME": "other"}
    assert (
        subprocess.run(["bash", script], check=False, env=env2, capture_output=True).returncode == 1
    )  # never clobbers
    subprocess.run(["bash", script, "--force"], env=env2, check=True, capture_output=True)
    assert (tmp_path / "snakemake/other").is_symlink()
    assert list((tmp_path / "snakemake").glob("other.bak.*"))
    subprocess.run(["bash", script, "--remove"], env=env, check=True, capture_output=True)
    assert not link.exists()


def test_profile_slurm_found_by_name(tmp_path):
    """After install, `snakemake --profile slurm` resolves (dry run of a throwaway workflow)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    subprocess.run(
        ["bash", REPO / "scripts/install-slurm-profile.sh"], check=True, env=env, capture_output=True
    )
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "Snakefile").write_text('rule distill_all:\n    output: "x"\n    shell: "touch {output}"\n')
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "distill_all"],
        cwd=wf,
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "no profile.yaml" not in out.stderr


def test_paper_scale_placements():
    from r1.config import merge, validate_config

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "configs/paper-scale.yaml").read_text())
    # its model directories (models/...) are the user's: types and rules only
    res = validate_config(merge(base, paper), "configs/paper-scale.yaml", check_files=False)["resources"]
    for group in ("rl_zero", "rl_reasoning"):
        p = cluster.placement(res, group)
        assert (p.gpus, p.nodes, p.total_gpus, p.gpu_model) == (8, 2, 16, "a100"), group
        assert snakemake_resources(res, group)["gres"] == "gpu:a100:8"
    assert cluster.placement(res, "sft").total_gpus == 8
    assert cluster.placement(res, "distill_student").total_gpus == 4
    for group in ("data", "eval_table", "report"):
        assert cluster.placement(res, group).gpus == 0, group


def test_paper_scale_dry_run_plans_full_dag_with_placements(tmp_path):
    """The user's command, dry: `snakemake --profile slurm -n distill_all --configfile
    configs/paper-scale.yaml`,
    in a working directory that holds the site's model directories (models/..., checked at DAG load) and its
    MATH-500 (not shipped: a stub here, whose sha256 the config is given)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    paper = yaml.safe_load((REPO / "configs/paper-scale.yaml").read_text())
    workdir = tmp_path / "run"
    for path in [paper["base_model"]["path"]] + [s["path"] for s in paper["distill"]["students"]]:
        (workdir / path).mkdir(parents=True)
    math500 = workdir / MATH500_PATH
    math500.parent.mkdir(parents=True)
    math500.write_text('{"problem": "What is $1 + 1$?", "answer": "2", "unique_id": "stub/1.json"}\n')
    for bench in paper["benchmarks"]:
        if bench["name"] == "math500":
            bench["sha256"] = hashlib.sha256(math500.read_bytes()).hexdigest()
    site = tmp_path / "paper-scale.yaml"
    site.write_text(yaml.safe_dump(paper, sort_keys=False))
    subprocess.run(
        ["bash", REPO / "scripts/install-slurm-profile.sh"], check=True, env=env, capture_output=True
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            "slurm",
            "-n",
            "distill_all",
            "--configfile",
            str(REPO / "config.yaml"),
            str(site),
            "--snakefile",
            str(REPO / "Snakefile"),
        ],
        cwd=workdir,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    placements = {}
    rule = None
    for line in text.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            placements.setdefault(rule, line.strip())
    for rule in ("rl_zero", "rl_reasoning", "rl_final"):
        assert "nodes=2" in placements[rule] and "gres=gpu:a100:8" in placements[rule], placements[rule]
        assert "mpi=srun" in placements[rule] and "tasks=2" in placements[rule]
    for rule in ("sft", "cold_start_sft", "sft_stabilize"):
        assert "gpu=8" in placements[rule] and "gpu_model=a100" in placements[rule], placements[rule]
    assert "gpu=4" in placements["distill_student"]
    for rule in ("data_prepare", "base_model"):
        assert "gpu" not in placements[rule], placements[rule]
    assert "distill_student" in text and "total" in text
