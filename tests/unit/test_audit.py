"""Unit tests of `python -m r1 audit` on small synthetic results trees: source -> prep -> train -> report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from r1.audit import MISSING, MODIFIED, OK, STALE, audit, main
from r1.manifest import build_manifest, sha256_file, write_manifest


def _job(rule: str, inputs: dict, outputs: dict, code: list[str] | None = None) -> None:
    """Write a manifest as r1.rulekit does (paths relative to the workdir, the current directory)."""
    manifest_path = outputs["manifest"][0]
    m = build_manifest(
        rule=rule,
        inputs={**inputs, "code": code or []},
        outputs=outputs,
        params={"cfg": {"x": 1}},
        code_files=code or [],
        seed=0,
        started="t0",
        finished="t1",
        manifest_path=manifest_path,
    )
    write_manifest(manifest_path, m)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """sources/prompts.jsonl -> prep (a file) -> train (a model directory) -> report (reads both manifests)"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "r1.manifest.package_versions", lambda: {"torch": "2.x", "r1": None}
    )  # slow, not audited
    Path("sources").mkdir()
    Path("sources/prompts.jsonl").write_text('{"q": "1+1", "a": "2"}\n')
    Path("r1").mkdir()
    Path("r1/code.py").write_text("X = 1\n")
    Path("results/prep").mkdir(parents=True)
    Path("results/prep/train.jsonl").write_text('{"q": "1+1", "a": "2", "id": 0}\n')
    _job(
        "prep",
        {"sources": ["sources/prompts.jsonl"]},
        {"train": ["results/prep/train.jsonl"], "manifest": ["results/prep/manifest.json"]},
        code=["r1/code.py"],
    )
    Path("results/train/model").mkdir(parents=True)
    Path("results/train/model/weights.bin").write_bytes(bytes(range(256)) * 4)
    Path("results/train/model/config.json").write_text("{}")
    Path("results/train/metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    _job(
        "train",
        {"train": ["results/prep/train.jsonl"]},
        {
            "model": ["results/train/model"],
            "metrics": ["results/train/metrics.jsonl"],
            "manifest": ["results/train/manifest.json"],
        },
    )
    Path("results/report").mkdir(parents=True)
    Path("results/report/table.html").write_text("<table></table>")
    _job(
        "report",
        {
            "metrics": ["results/train/metrics.jsonl"],
            "manifests": ["results/prep/manifest.json", "results/train/manifest.json"],
        },
        {"table": ["results/report/table.html"], "manifest": ["results/report/manifest.json"]},
    )
    return tmp_path


def statuses(result) -> dict[str, str]:
    return {r.artifact: r.status for r in result.rows}


def flip_byte(path: str | Path, offset: int = 0) -> None:
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 0x01
    Path(path).write_bytes(bytes(data))


def test_manifests_chain_back_to_the_sources(workdir):
    train = json.loads(Path("results/train/manifest.json").read_text())
    assert train["upstream_manifests"] == {
        "results/prep/manifest.json": sha256_file("results/prep/manifest.json")
    }
    prep = json.loads(Path("results/prep/manifest.json").read_text())
    assert prep["upstream_manifests"] == {}
    assert set(prep["inputs"]) == {"sources/prompts.jsonl"}
    assert set(prep["code_files"]) == {"r1/code.py"} and prep["code_sha256"]


def test_a_stray_manifest_beside_a_source_is_not_chained(workdir):
    """Only a job under results/ makes an upstream: a manifest.json near a source file (or above the workdir)
    is
    not the source's producer."""
    Path("sources/manifest.json").write_text("{}")
    Path("manifest.json").write_text("{}")
    _job(
        "prep",
        {"sources": ["sources/prompts.jsonl"]},
        {"train": ["results/prep/train.jsonl"], "manifest": ["results/prep/manifest.json"]},
        code=["r1/code.py"],
    )
    assert json.loads(Path("results/prep/manifest.json").read_text())["upstream_manifests"] == {}


def test_a_clean_tree_audits_ok(workdir, capsys):
    result = audit("results")
    assert result.ok, result.culprits
    assert set(statuses(result).values()) == {OK}
    assert set(statuses(result)) == {
        "results/prep/train.jsonl",
        "results/train/model",
        "results/train/metrics.jsonl",
        "results/report/table.html",
    }
    assert main(["results"]) == 0
    out = capsys.readouterr().out
    assert "audit ok" in out and "results/train/model" in out


def test_one_modified_byte_names_the_artifact_and_marks_dependants_stale(workdir, capsys):
    flip_byte("results/prep/train.jsonl", 3)
    result = audit("results")
    s = statuses(result)
    assert s["results/prep/train.jsonl"] == MODIFIED
    assert s["results/train/model"] == STALE and s["results/train/metrics.jsonl"] == STALE
    assert s["results/report/table.html"] == STALE  # made from a stale model's metrics
    assert result.culprits[0].startswith("results/prep/train.jsonl is modified")
    assert len(result.culprits) == 1  # the dependants' changed input is the same culprit
    assert main(["results"]) == 1
    captured = capsys.readouterr()
    assert "culprit: results/prep/train.jsonl is modified" in captured.err


def test_a_file_inside_a_model_directory_counts(workdir):
    flip_byte("results/train/model/weights.bin", 100)
    s = statuses(audit("results"))
    assert s["results/train/model"] == MODIFIED
    assert s["results/prep/train.jsonl"] == OK
    assert s["results/report/table.html"] == OK  # the report did not read the model


def test_snakemakes_directory_timestamp_is_not_part_of_the_hash(workdir):
    """Snakemake adds .snakemake_timestamp to a directory() output after the job has written its manifest."""
    Path("results/train/model/.snakemake_timestamp").touch()
    assert audit("results").ok


def test_a_deleted_output_is_missing(workdir):
    os.remove("results/train/metrics.jsonl")
    result = audit("results")
    s = statuses(result)
    assert s["results/train/metrics.jsonl"] == MISSING
    assert s["results/report/table.html"] == STALE
    assert any("results/train/metrics.jsonl is missing" in c for c in result.culprits)


def test_a_rebuilt_upstream_makes_downstream_stale(workdir):
    """prep reran (new manifest) but train did not: train's recorded chain no longer matches."""
    _job(
        "prep",
        {"sources": ["sources/prompts.jsonl"]},
        {"train": ["results/prep/train.jsonl"], "manifest": ["results/prep/manifest.json"]},
        code=["r1/code.py"],
    )
    m = json.loads(Path("results/prep/manifest.json").read_text())
    m["finished"] = "t2"
    write_manifest("results/prep/manifest.json", m)
    result = audit("results")
    s = statuses(result)
    assert s["results/prep/train.jsonl"] == OK
    assert s["results/train/model"] == STALE
    assert s["results/report/table.html"] == STALE
    assert result.culprits == [
        "upstream manifest results/prep/manifest.json changed after 2 job(s) were built from it: "
        "results/report, results/train"
    ]


def test_a_changed_source_file_is_named(workdir):
    Path("sources/prompts.jsonl").write_text('{"q": "1+2", "a": "3"}\n')
    result = audit("results")
    assert set(statuses(result).values()) == {STALE}
    assert result.culprits == [
        "input sources/prompts.jsonl changed after 1 job(s) were built from it: results/prep"
    ]


def test_changed_code_is_stale_unless_told_to_skip_code(workdir, capsys):
    Path("r1/code.py").write_text("X = 2\n")
    result = audit("results")
    assert statuses(result)["results/prep/train.jsonl"] == STALE
    assert any("code file r1/code.py changed" in c for c in result.culprits)
    assert audit("results", check_code=False).ok
    assert main(["results", "--no-code"]) == 0


def test_a_missing_upstream_manifest_is_reported(workdir):
    os.remove("results/prep/manifest.json")
    result = audit("results")
    s = statuses(result)
    assert s["results/prep/manifest.json"] == MISSING
    assert s["results/train/model"] == STALE


def test_a_corrupt_manifest_is_modified(workdir):
    Path("results/train/manifest.json").write_text("{not json")
    s = statuses(audit("results"))
    assert s["results/train/manifest.json"] == MODIFIED


def test_audit_from_another_directory_and_of_a_subfolder(workdir, monkeypatch, tmp_path_factory):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert audit(workdir / "results").ok
    flip_byte(workdir / "results/prep/train.jsonl")
    # Auditing one job's folder still follows its chain upstream.
    s = statuses(audit(workdir / "results/train"))
    assert s["results/prep/train.jsonl"] == MODIFIED
    assert s["results/train/model"] == STALE


def test_json_output_and_usage_errors(workdir, capsys, tmp_path_factory):
    flip_byte("results/report/table.html")
    assert main(["results", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["counts"][MODIFIED] == 1
    assert data["culprits"][0].startswith("results/report/table.html is modified")
    assert main(["does/not/exist"]) == 2
    assert main([str(tmp_path_factory.mktemp("empty"))]) == 2
    assert main(["results", "--failures-only"]) == 1
    out = capsys.readouterr().out
    assert "results/report/table.html" in out and "results/prep/train.jsonl" not in out


def test_python_dash_m_r1_audit_dispatches(workdir):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "r1", "audit", "results"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    assert "audit ok" in proc.stdout
