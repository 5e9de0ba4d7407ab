"""Config validation at DAG load: the embedded default and overlays validate; errors name the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from r1.config import ConfigError, load_config, validate_config

REPO = Path(__file__).resolve().parent.parent


def base():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_embedded_default_and_tiny_overlay_validate():
    load_config(REPO / "config.yaml")
    cfg = base()
    cfg.update(yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text()))
    validate_config(cfg)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["rl_zero"].update(prompt_style="chatty"), "rl_zero.prompt_style"),
        (lambda c: c["rl_zero"]["rewards"].append({"name": "vibes"}), "rl_zero.rewards.2.name"),
        (lambda c: c["distill"].update(num_shards=0), "distill.num_shards"),
        (lambda c: c.update(unknown_key=1), "<top level>"),
        (lambda c: c["eval"].update(k="four"), "eval.k"),
        (lambda c: c["resources"].update(rl_zero={"gpus": -1}), "resources.rl_zero.gpus"),
        # training on samples the grader marked incorrect is no longer expressible
        (lambda c: c["distill"].update(keep="all"), "distill.keep"),
        (lambda c: c["cold_start"]["filters"].update(require_correct=False), "cold_start.filters"),
        (lambda c: c["distill"].update(fill="incorrect"), "distill.fill"),
        (lambda c: c["data"]["sources"][0].update(kind="hub"), "data.sources.0.kind"),
    ],
)
def test_schema_errors_name_the_key(mutate, key):
    cfg = copy.deepcopy(base())
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        validate_config(cfg, "my.yaml")
    assert "my.yaml" in str(e.value) and key in str(e.value)


def test_semantic_errors_name_the_key():
    cfg = base()
    cfg["base_model"] = {"source": "hf_dir"}
    with pytest.raises(ConfigError, match="base_model.path"):
        validate_config(cfg)
    cfg = base()
    cfg["data"]["sources"].append({"name": "hub", "kind": "hf", "dataset": "openai/gsm8k", "split": "train"})
    with pytest.raises(ConfigError, match=r"data.sources\[3\].revision: required for kind 'hf'"):
        validate_config(cfg)


def test_snakemake_refuses_an_invalid_config_at_dag_load(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("eval: {k: 0, models: [base]}\n")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--configfile", "config.yaml", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "eval.k" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "overlays",
    [
        ["configs/gpu-small.yaml"],
        ["configs/gpu-small.yaml", "tests/configs/tiny.yaml"],
        ["configs/paper-scale.yaml"],
    ],
)
def test_shipped_configs_validate(overlays):
    cfg = base()
    for overlay in overlays:
        cfg = _merge(cfg, yaml.safe_load((REPO / overlay).read_text()))
    validate_config(cfg, "+".join(overlays))


def _merge(a: dict, b: dict) -> dict:
    """Snakemake's --configfile overlay semantics: nested dicts merge, everything else replaces."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
