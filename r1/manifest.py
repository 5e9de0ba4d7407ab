"""Provenance manifests: what went in, what came out, with which code, config, versions and seed."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from r1.atomic import write_json

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# Snakemake adds this empty mtime carrier to every directory() output after the job (and manifest) ends.
IGNORED_IN_DIRS = frozenset({".snakemake_timestamp"})


def sha256_path(path: str | Path) -> str:
    """File: its sha256. Directory: sha256 over the sorted (relative path, file sha256) list."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name not in IGNORED_IN_DIRS):
            h.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
        return h.hexdigest()
    return sha256_file(path)


def sha256_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(str(p) for p in paths):
        h.update(f"{p}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "torch",
        "transformers",
        "trl",
        "accelerate",
        "datasets",
        "snakemake",
        "math-verify",
        "reasoning-gym",
        "pandas",
        "pyarrow",
        "vllm",
        "deepspeed",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    out["r1"] = git_commit()
    return out


def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (sha + ("-dirty" if dirty else "")) if sha else None


def upstream_manifest(path: str | Path) -> Path | None:
    """The manifest of the job that made `path`: the nearest manifest.json in its folder or above."""
    p = Path(path).resolve()
    if (Path.cwd() / "results").resolve() not in p.parents:
        # a source (prompt file, benchmark, user data): no job made it; never a stray manifest above it
        return None
    for d in [p if p.is_dir() else p.parent, *p.parents]:
        cand = d / MANIFEST_NAME
        if cand.is_file() and cand.resolve() != p:
            return cand
        if d.name == "results":
            break
    return None


def build_manifest(
    *,
    rule: str,
    inputs: dict[str, list[str]],
    outputs: dict[str, list[str]],
    params: dict,
    code_files: list[str],
    seed: int | None,
    started: str,
    finished: str,
    manifest_path: str,
) -> dict:
    input_hashes = {p: sha256_path(p) for paths in inputs.values() for p in paths if Path(p).exists()}
    output_hashes = {
        p: sha256_path(p)
        for paths in outputs.values()
        for p in paths
        if Path(p).exists() and Path(p).resolve() != Path(manifest_path).resolve()
    }
    upstream = {}
    for p in input_hashes:
        if p in code_files:
            continue
        m = upstream_manifest(p)
        if m is not None:
            upstream[os.path.relpath(m)] = sha256_file(m)
    return {
        "rule": rule,
        "inputs": {p: h for p, h in input_hashes.items() if p not in code_files},
        "outputs": output_hashes,
        "upstream_manifests": upstream,
        "params": params,
        "config_sha256": hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest(),
        "code_files": {p: sha256_file(p) for p in code_files},
        "code_sha256": sha256_files(code_files) if code_files else None,
        "versions": package_versions(),
        "seed": seed,
        "command": sys.argv,
        "host": socket.gethostname(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": started,
        "finished": finished,
    }


def write_manifest(path: str | Path, manifest: dict) -> None:
    write_json(path, manifest)
