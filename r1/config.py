"""Config loading and JSON-schema validation with errors that name the offending key."""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _key_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate against r1/schemas/config.schema.yaml; raise ConfigError listing every problem by key."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: invalid configuration ({len(errors)} problem(s)):"]
        for e in errors:
            lines.append(f"  - {_key_path(e)}: {e.message}")
        raise ConfigError("\n".join(lines))
    _check_semantics(config, source)
    return config


def _check_semantics(config: dict, source: str) -> None:
    base = config["base_model"]
    if base["source"] == "hf_dir" and not base.get("path"):
        raise ConfigError(f"{source}: base_model.path: required when base_model.source is 'hf_dir'")
    if base["source"] == "random_init" and not base.get("random_init"):
        raise ConfigError(
            f"{source}: base_model.random_init: required when base_model.source is 'random_init'"
        )
    if config["cold_start"]["source"] == "teacher" and not config["cold_start"].get("teacher_path"):
        raise ConfigError(f"{source}: cold_start.teacher_path: required when cold_start.source is 'teacher'")
    need = {
        "reasoning_gym": ["generator"],
        "procedural": [],
        "file": ["path", "problem_field", "answer_field"],
        "hf": ["dataset", "split", "revision", "problem_field", "answer_field"],
    }
    for section, key in (("data", "sources"), ("cold_start", "seed_sources")):
        for i, s in enumerate(config[section].get(key) or []):
            for field in need[s["kind"]]:
                if not s.get(field):
                    raise ConfigError(
                        f"{source}: {section}.{key}[{i}].{field}: required for kind '{s['kind']}'"
                    )
    names = [s["name"] for s in config["data"]["sources"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: data.sources: source names must be unique, got {names}")
    bench_names = [b["name"] for b in config["benchmarks"]]
    for stage in ("rl_zero", "rl_reasoning", "rl_final", "cold_start_sft", "sft", "sft_stabilize"):
        for name in (config[stage].get("heldout") or {}).get("benchmarks") or []:
            if name not in bench_names:
                raise ConfigError(
                    f"{source}: {stage}.heldout.benchmarks: {name!r} is not a benchmark name {bench_names}"
                )
    if config["distill"]["teacher"] == "rl_final" and not config["rl_final"].get("enabled"):
        raise ConfigError(f"{source}: distill.teacher: 'rl_final' needs rl_final.enabled: true")
    for i, st in enumerate(config["distill"]["students"]):
        if not (st.get("path") or st.get("init")):
            raise ConfigError(
                f"{source}: distill.students[{i}]: give 'path' (HF dir) or 'init' (random init)"
            )


def load_config(path: str | Path) -> dict:
    path = Path(path)
    with open(path) as f:
        config = yaml.safe_load(f)
    return validate_config(config, str(path))
