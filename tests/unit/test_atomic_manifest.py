"""Atomic writes leave nothing half-written; manifests hash files and directories deterministically."""

from __future__ import annotations

import json

import pytest

from r1.atomic import atomic_dir, atomic_path, write_json
from r1.manifest import build_manifest, sha256_path, upstream_manifest


def test_atomic_path_leaves_no_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.bin").write_bytes(b"1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b.bin").write_bytes(b"2")
        raise RuntimeError
    assert sorted(p.name for p in target.iterdir()) == ["a.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_directory_hash_is_content_based(tmp_path):
    for name in ("x", "y"):
        d = tmp_path / name
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f.txt").write_text("hello")
        (d / "g.txt").write_text("world")
    assert sha256_path(tmp_path / "x") == sha256_path(tmp_path / "y")
    (tmp_path / "y" / "g.txt").write_text("World")
    assert sha256_path(tmp_path / "x") != sha256_path(tmp_path / "y")


def test_manifest_records_inputs_outputs_code_and_upstream(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    up = tmp_path / "results" / "data"
    up.mkdir(parents=True)
    (up / "train.parquet").write_bytes(b"rows")
    write_json(up / "manifest.json", {"rule": "data"})
    out = tmp_path / "results" / "rl"
    out.mkdir()
    (out / "metrics.jsonl").write_text("{}\n")
    code = tmp_path / "code.py"
    code.write_text("x = 1\n")
    m = build_manifest(
        rule="rl",
        inputs={"train": ["results/data/train.parquet"], "code": [str(code)]},
        outputs={"metrics": ["results/rl/metrics.jsonl"], "manifest": ["results/rl/manifest.json"]},
        params={"cfg": {"lr": 1}},
        code_files=[str(code)],
        seed=3,
        started="a",
        finished="b",
        manifest_path="results/rl/manifest.json",
    )
    assert set(m["inputs"]) == {"results/data/train.parquet"}
    assert set(m["outputs"]) == {"results/rl/metrics.jsonl"}
    assert list(m["upstream_manifests"]) == ["results/data/manifest.json"]
    assert m["code_sha256"] and m["seed"] == 3 and "torch" in m["versions"]
    assert upstream_manifest("results/data/train.parquet").name == "manifest.json"
    json.dumps(m)
