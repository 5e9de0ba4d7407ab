"""Config validation at DAG load: the shipped configs validate; every problem is an error naming its key."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from r1.benchmarks import MATH500_PATH
from r1.config import ConfigError, Eval, load_config, merge, validate_config
from r1.eval.runner import EvalProtocol
from r1.trl_fields import CLASSES, trl_fields

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def base():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_embedded_default_and_tiny_overlay_validate():
    cfg = load_config(REPO / "config.yaml", REPO / "tests/configs/tiny.yaml")
    assert cfg["run_name"] == "tiny" and cfg["base_model"]["source"] == "random_init"


@pytest.mark.parametrize(
    "overlays",
    [
        ["configs/gpu-small.yaml"],
        ["configs/gpu-small.yaml", "tests/configs/tiny.yaml"],
        ["configs/paper-scale.yaml"],
        ["configs/data-math.yaml"],
        ["configs/paper-scale.yaml", "configs/data-math.yaml"],
        # the learning experiments' stacks: test_every_arm_of_every_experiment_validates_on_every_device
    ],
)
def test_shipped_configs_validate(overlays):
    # paper-scale names model directories of the user's site (models/...), data-math the MATH / AIME files a
    # user fetches (docs/data.md): types and rules only there
    site = ("configs/paper-scale.yaml", "configs/data-math.yaml")
    if set(overlays) & set(site):
        load_config(REPO / "config.yaml", *[REPO / o for o in overlays], check_files=False)
    else:
        load_with_math500(REPO / "config.yaml", *[REPO / o for o in overlays])


def load_with_math500(*files) -> dict:
    """load_config with every file check; the one file that may be missing is MATH-500 (not shipped: a user
    puts it at MATH500_PATH, docs/data.md). Where the file is there, nothing may be missing."""
    try:
        return load_config(*files)
    except ConfigError as e:
        problems = str(e).splitlines()[1:]
        others = [p for p in problems if MATH500_PATH not in p and "not shipped with r1" not in p]
        if (REPO / MATH500_PATH).exists() or others or not problems:
            raise
        return load_config(*files, check_files=False)


def test_a_benchmark_file_with_another_sha256_fails_at_load(tmp_path):
    cfg = base()
    path = tmp_path / "bench.jsonl"
    path.write_text('{"problem": "What is 1 + 1?", "answer": "2"}\n')
    entry = {"name": "mine", "path": str(path), "problem_field": "problem", "answer_field": "answer"}
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg["benchmarks"] = [{**entry, "answer_format": "integer", "sha256": good}]
    assert validate_config(copy.deepcopy(cfg))["benchmarks"][0]["sha256"] == good
    cfg["benchmarks"][0]["sha256"] = "0" * 64
    want = f"benchmarks.0.sha256 \\(mine\\): {path} has sha256 {good}, not 0000"
    with pytest.raises(ConfigError, match=want):
        validate_config(cfg)


def assert_contains(merged, overlay, where: str, key: str = "") -> None:
    """Every value `overlay` sets is in `merged` (lists of dicts: item by item, defaults may be added)."""
    if isinstance(overlay, dict):
        for k, v in overlay.items():
            assert isinstance(merged, dict) and k in merged, f"{where}: {key}{k} missing"
            assert_contains(merged[k], v, where, f"{key}{k}.")
    elif isinstance(overlay, list) and all(isinstance(x, dict) for x in overlay):
        assert isinstance(merged, list) and len(merged) == len(overlay), f"{where}: {key} differs"
        for i, (m, o) in enumerate(zip(merged, overlay, strict=True)):
            assert_contains(m, o, where, f"{key}{i}.")
    else:
        assert merged == overlay, f"{where}: {key.rstrip('.')} is {merged!r}, the arm sets {overlay!r}"


def test_every_arm_of_every_experiment_validates_on_every_device(monkeypatch):
    """A typo in an arm overlay (configs/learn/experiments.yaml) fails here, not after a GPU lease's setup."""
    from r1.learn import ROOT, arm_configs, load_experiments

    monkeypatch.chdir(ROOT)  # data and benchmark paths are relative to the checkout
    experiments = load_experiments()
    checked = 0
    for name, exp in experiments.items():
        for arm in exp["arms"]:
            for device in ("cpu", "gpu"):
                cfg = load_with_math500(*arm_configs(exp, arm, device, []))
                assert cfg["run_name"], (name, arm, device)
                for f in exp["arms"][arm] or []:  # what the arm varies survives the device's overlays
                    assert_contains(
                        cfg, yaml.safe_load((ROOT / f).read_text()), f"{name}/{arm} on {device}: {f}"
                    )
                checked += 1
    assert checked >= 2 * 17  # at least 17 arms (18 today: E1 12, E2 2, E3 2, E4 2) on both devices
    kl = load_config(*arm_configs(experiments["E1"], "random_reward_kl", "gpu", []))["rl_zero"]
    assert kl["trl"]["beta"] == 0.04 and kl["rewards"][0]["name"] == "random"


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["rl_zero"].update(prompt_style="chatty"), "rl_zero.prompt_style"),
        (
            lambda c: c["rl_zero"]["rewards"].append({"name": "vibes"}),
            "rl_zero.rewards.2: unknown reward 'vibes'",
        ),
        (
            lambda c: c["rl_zero"]["rewards"][0].update(mood=1),
            "rl_zero.rewards.0: reward 'accuracy': unknown option",
        ),
        (lambda c: c["rl_zero"]["trl"].update(bta=0.1), "rl_zero.trl.bta: not a field of TRL's GRPOConfig"),
        (
            lambda c: c["sft"]["trl"].update(num_generations=2),
            "sft.trl.num_generations: not a field of TRL's SFTConfig",
        ),
        (
            lambda c: c["distill"].update(gkd={"lambd": 0.5}),
            "distill.gkd.lambd: not a field of TRL's GKDConfig",
        ),
        (lambda c: c["distill"].update(num_shards=0), "distill.num_shards"),
        (lambda c: c.update(unknown_key=1), "unknown_key: Extra inputs are not permitted"),
        (lambda c: c["eval"].update(k="four"), "eval.k"),
        (lambda c: c["eval"].update(models=["rl_zer"]), "eval.models.0: unknown model 'rl_zer'"),
        (lambda c: c["resources"].update(rl_zero={"gpus": -1}), "resources.rl_zero.gpus"),
        (lambda c: c["resources"].update(rl_zer={"gpus": 1}), "resources.rl_zer: unknown group"),
        (
            lambda c: c["benchmarks"][0].update(path="missing/gsm8k.jsonl"),
            "benchmarks.0.path (gsm8k): 'missing/",
        ),
        (
            lambda c: c["rejection_sampling"].update(non_reasoning_files=["nope.jsonl"]),
            "non_reasoning_files.0",
        ),
        (lambda c: c["base_model"].update(source="hf_dir", path=None), "base_model.path: required"),
        (
            lambda c: c["distill"].update(teacher="rl_final"),
            "distill.teacher: 'rl_final' is not a model of the stage table that runs",
        ),
        (  # a student is no teacher
            lambda c: c["distill"].update(teacher="distill_tiny_llama"),
            "distill.teacher: 'distill_tiny_llama' is not a model of the stage table",
        ),
        (
            lambda c: c["base_model"].update(keep_layers=31),
            "base_model.keep_layers: 31 > the base model's 30",
        ),
        (lambda c: c["base_model"].update(keep_layers=0), "base_model.keep_layers"),
        (
            lambda c: c["distill"].update(students=[{"name": "s", "from_base": {"keep_layers": 40}}]),
            "distill.students.0.from_base.keep_layers: 40 > the base model's 30 layers",
        ),
        (
            lambda c: (
                c["distill"].update(students=[{"name": "s", "from_base": {"keep_layers": 20}}])
                or c["base_model"].update(keep_layers=15)
            ),
            "distill.students.0.from_base.keep_layers: 20 > the base model's 15 layers",
        ),
        (
            lambda c: c["distill"].update(students=[{"name": "s", "path": "x", "from_base": {}}]),
            "distill.students.0: give exactly one of 'path' (HF dir), 'init' (random init) or 'from_base'",
        ),
        (
            lambda c: c["distill"].update(students=[{"name": "s", "from_base": {"keep": 3}}]),
            "distill.students.0.from_base.keep: Extra inputs are not permitted",
        ),
        (
            lambda c: c["distill"].update(heldout={"benchmarks": ["gsm8kk"]}),
            "distill.heldout.benchmarks.0: 'gsm8kk' is not a benchmark",
        ),
        (
            lambda c: c["distill"].update(heldout={"benchmarks": ["gsm8k"]}, method="kd"),
            "distill.heldout: held-out evaluation runs with method sft; distill.students.0 (tiny_llama) "
            "uses 'kd'",
        ),
        (
            lambda c: c["rl_zero"].update(enabled=False),
            "cold_start: starts from 'rl_zero', which does not run",
        ),
        (
            lambda c: c["sft"].update(heldout={"benchmarks": ["gsm8kk"]}),
            "sft.heldout.benchmarks.0: 'gsm8kk' is not a benchmark",
        ),
        (lambda c: c["rl_zero"].update(heldout={"every_step": 5}), "rl_zero.heldout.every_step"),
        (
            lambda c: c["rl_zero"].update(algorithm="PPO"),
            "rl_zero.algorithm: Input should be 'grpo' or 'ppo'",
        ),
        (
            lambda c: c["rl_zero"].update(algorithm="ppo", ppo={"gama": 0.99}),
            "rl_zero.ppo.gama: Extra inputs are not permitted",
        ),
        (lambda c: c["rl_zero"].update(algorithm="ppo", ppo={"lam": 1.5}), "rl_zero.ppo.lam"),
        (
            lambda c: c["rl_zero"].update(algorithm="ppo", ppo={"kl_penalty": "both"}),
            "rl_zero.ppo.kl_penalty",
        ),
        (  # PPO settings that would be silently ignored
            lambda c: c["rl_reasoning"].update(ppo={"gamma": 0.99}),
            "rl_reasoning.ppo: PPO settings, but rl_reasoning.algorithm is 'grpo'",
        ),
        # training on samples the grader marked incorrect is no longer expressible
        (lambda c: c["distill"].update(keep="all"), "distill.keep: Input should be 'verified'"),
        (
            lambda c: c["cold_start"]["filters"].update(require_correct=False),
            "cold_start.filters.require_correct: Extra inputs are not permitted",
        ),
        (lambda c: c["distill"].update(fill="incorrect"), "distill.fill"),
        (lambda c: c["rejection_sampling"].update(min_examples=-1), "rejection_sampling.min_examples"),
        (lambda c: c["data"]["sources"][0].update(kind="hub"), "data.sources.0.kind"),
        (lambda c: c["distill"]["students"][0].update(method="jsd"), "distill.students.0.method"),
        (lambda c: c["distill"].update(kd={"alpha": 1.5}), "distill.kd.alpha"),
        (
            lambda c: c["data"]["sources"].append(
                {"name": "hub", "kind": "hf", "dataset": "openai/gsm8k", "split": "train"}
            ),
            "data.sources.3.revision: required for kind 'hf'",  # an unpinned hub dataset
        ),
        (
            lambda c: c["cold_start"]["seed_sources"].append({"name": "hub", "kind": "hf", "revision": "x"}),
            "cold_start.seed_sources.1.dataset: required for kind 'hf'",
        ),
        (  # GKDConfig fields in distill.trl while a student trains by sft (an SFTConfig)
            lambda c: c["distill"]["trl"].update(lmbda=0.5),
            "distill.trl.lmbda: not a field of TRL's SFTConfig",
        ),
        (  # per-example loss weights need one example per row
            lambda c: c["sft_stabilize"]["trl"].update(packing=True),
            "sft_stabilize.trl: packing / padding_free mixes examples in one row, but safety_weight 2.0",
        ),
        (
            lambda c: c["sft_stabilize"]["trl"].update(padding_free=True),
            "sft_stabilize.trl: packing / padding_free",
        ),
        (  # GKD's own collator: TRL refuses padding-free there when the job starts
            lambda c: c["distill"].update(method="gkd") or c["distill"]["trl"].update(packing=True),
            "distill.trl: packing / padding_free, but distill.students.0 trains by gkd",
        ),
    ],
)
def test_every_problem_names_its_key(mutate, key):
    cfg = copy.deepcopy(base())
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, "my.yaml")
    assert "my.yaml" in str(e.value) and key in str(e.value), str(e.value)


def test_a_data_source_file_that_does_not_exist_names_its_key():
    cfg = base()
    cfg["data"]["sources"].append(
        {"name": "mine", "kind": "file", "path": "data/mine.jsonl", "problem_field": "q", "answer_field": "a"}
    )
    with pytest.raises(ConfigError, match=r"data.sources.3.path \(mine\): 'data/mine.jsonl' does not exist"):
        validate_config(cfg)


def test_missing_math_files_fail_at_load_and_say_where_to_get_them():
    # MATH and AIME are not shipped: the overlay names paths a user fills (docs/data.md)
    with pytest.raises(ConfigError) as e:
        load_config(REPO / "config.yaml", REPO / "configs/data-math.yaml")
    msg = str(e.value)
    assert "data.sources.1.path (math_train): 'data/math/train.jsonl' does not exist" in msg
    assert "cold_start.seed_sources.1.path (math_cot)" in msg and "docs/data.md" in msg


def test_hf_sources_resolve_a_local_dataset_directory_and_keep_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "ds").mkdir()
    cfg = base()
    hf = {"kind": "hf", "split": "train", "revision": "v1", "problem_field": "q", "answer_field": "a"}
    cfg["data"]["sources"] += [
        {"name": "local", "dataset": "ds", **hf},
        {"name": "hub", "dataset": "o/d", **hf},
    ]
    monkeypatch.chdir(tmp_path)
    out = validate_config(cfg)
    assert [s["dataset"] for s in out["data"]["sources"][-2:]] == ["ds", "o/d"]
    assert "size" not in out["data"]["sources"][-1]  # file / hf sources: every row unless size is set


def test_defaults_are_filled_in_once_and_paths_resolved(tmp_path, monkeypatch):
    cfg = base()
    del cfg["eval"]["temperature"], cfg["generation"]
    monkeypatch.chdir(tmp_path)  # not the checkout: r1/assets/... paths resolve inside it
    out = validate_config(cfg)
    assert out["eval"]["temperature"] == EvalProtocol().temperature == Eval().temperature
    assert out["generation"]["backend"] == "transformers" and out["data"]["decontamination"]["ngram"] == 10
    assert out["benchmarks"][0]["path"] == str(REPO / "r1/assets/benchmarks/gsm8k/test.jsonl")


def test_rl_algorithm_defaults_to_grpo_and_ppo_takes_its_defaults_from_r1_ppo():
    from r1.ppo import DEFAULTS, RL_ALGORITHMS

    cfg = base()
    cfg["rl_reasoning"]["algorithm"] = "ppo"
    out = validate_config(cfg, check_files=False)
    assert out["rl_zero"]["algorithm"] == RL_ALGORITHMS[0] == "grpo" and "ppo" not in out["rl_zero"]
    assert out["rl_reasoning"]["ppo"] == DEFAULTS
    cfg["rl_reasoning"]["ppo"] = {"kl_penalty": "loss"}
    assert validate_config(cfg, check_files=False)["rl_reasoning"]["ppo"] == {
        **DEFAULTS,
        "kl_penalty": "loss",
    }
    e1 = [REPO / "config.yaml", REPO / "configs/learn/e1.yaml"]
    arms = yaml.safe_load((REPO / "configs/learn/experiments.yaml").read_text())["E1"]["arms"]
    assert load_config(*e1, *[REPO / f for f in arms["ppo"]])["rl_zero"]["algorithm"] == "ppo"
    grpo, ppo = load_config(*e1), load_config(*e1, *[REPO / f for f in arms["ppo"]])
    # the ppo arm differs from the grpo arm in the algorithm only: same prompts, rewards, steps, batch, lr
    assert {k: v for k, v in ppo["rl_zero"].items() if k != "ppo"} == {**grpo["rl_zero"], "algorithm": "ppo"}


def test_trl_fields_read_from_source_are_the_real_dataclass_fields():
    for name, (module, _) in CLASSES.items():
        real = getattr(importlib.import_module(module), name)
        assert trl_fields(name) == {f.name for f in dataclasses.fields(real)}, name


def test_merge_follows_snakemakes_configfile_semantics():
    assert merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": 3}, "l": [2]}) == {
        "a": {"b": 3, "c": 2},
        "l": [2],
    }


@pytest.mark.parametrize(
    "overlay, key",
    [
        ("eval: {k: 0}", "eval.k"),
        ("rl_zero: {trl: {bta: 0.1}}", "rl_zero.trl.bta"),  # a TRL typo: before, it failed hours later
        (
            "benchmarks: [{name: gsm8k, path: gone.jsonl, problem_field: q, answer_field: a, "
            "answer_format: gsm8k}]",
            "benchmarks.0.path (gsm8k): 'gone.jsonl' does not exist",  # before: silently kept old results
        ),
    ],
)
def test_snakemake_refuses_an_invalid_config_at_dag_load(tmp_path, overlay, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(overlay + "\n")
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "config.yaml", str(bad)], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr, proc.stderr[-3000:]


def test_the_configuration_reference_is_generated_from_the_config_models():
    proc = subprocess.run(
        [sys.executable, "scripts/config_reference.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
