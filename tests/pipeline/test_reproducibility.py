"""Incremental reruns, provenance audit and the HTML report, on real Snakemake runs of the tiny config.

All tests share the one full run of `pipeline_run` (tests/conftest.py). Tests that only change the config use
an overlay file outside the workdir and a dry run, which leaves the workdir as it is; tests that edit a file
in the workdir (a source, the code, an artifact) first copy the whole run, `.snakemake/` and mtimes included.
Each dry-run test asserts the exact multiset of scheduled jobs, taken from Snakemake's "Job stats" table.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from r1 import pipeline
from r1.manifest import sha256_file, sha256_path
from tests.conftest import copy_run, dry_run, overlay, run_config, snakemake, tiny_config

pytestmark = pytest.mark.e2e

DATA_SOURCE = "tests/configs/tiny_prompts.jsonl"  # the tiny config's `kind: file` prompt source


@pytest.fixture(scope="module")
def all_jobs(pipeline_run) -> Counter:
    """Every job of the tiny DAG (a forced dry run): the reference for the exact expectations below."""
    jobs = dry_run(pipeline_run, extra=("--forceall",))
    cfg = tiny_config(pipeline_run)
    n_models = 6 + len(cfg["distill"]["students"])  # base .. sft_stabilize (rl_final is off) + students
    assert jobs["eval_generate"] == n_models * len(cfg["benchmarks"])
    assert jobs["distill_generate"] == cfg["distill"]["num_shards"]
    assert {"base_model", "data_prepare", "rl_zero", "report_assets", "eval_table", "distill_all"} <= set(
        jobs
    )
    return jobs


def without(jobs: Counter, *rules: str) -> Counter:
    return Counter({r: n for r, n in jobs.items() if r not in rules})


# 1
#
#
# ----------------------------------------------------------------------------------------------------------
def test_a_finished_run_schedules_nothing(pipeline_run):
    assert dry_run(pipeline_run) == Counter()


def test_a_copied_run_schedules_nothing(pipeline_run, tmp_path):
    """The copies the tests below edit are faithful: same mtimes and metadata, nothing to do."""
    assert dry_run(copy_run(pipeline_run, tmp_path / "run")) == Counter()


# 2
#
#
# ----------------------------------------------------------------------------------------------------------
def test_changing_a_prompt_source_reruns_data_and_everything_downstream(pipeline_run, all_jobs, tmp_path):
    run = copy_run(pipeline_run, tmp_path / "run")
    source = run / DATA_SOURCE
    source.write_text(source.read_text() + json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n")
    jobs = dry_run(run)
    # Everything but the base model, the base model's own evals (which read no prompt data), and what is built
    # from the base model and the task prompt sets alone (the task sets and the generated, judged SFT data).
    expected = without(all_jobs, "base_model", "data_tasks", "sft_data_generate")
    expected["eval_generate"] -= len(tiny_config(run)["benchmarks"])
    assert jobs == expected
    # ... which is exactly what Snakemake calls "data_prepare and everything downstream of it".
    assert jobs == dry_run(pipeline_run, extra=("--forcerun", "data_prepare"))


# 3
#
#
# ----------------------------------------------------------------------------------------------------------
def test_changing_the_eval_sample_count_reruns_only_eval_and_the_report(pipeline_run, all_jobs, tmp_path):
    k = tiny_config(pipeline_run)["eval"]["k"]
    jobs = dry_run(pipeline_run, overlay(tmp_path, {"eval": {"k": k + 2}}))
    assert jobs == Counter(
        {
            "eval_generate": all_jobs["eval_generate"],
            "eval_tasks": all_jobs["eval_tasks"],
            "eval_table": 1,
            "report_assets": 1,
            "distill_all": 1,
        }
    )


def test_changing_one_benchmark_limit_reruns_only_that_benchmarks_evals(pipeline_run, all_jobs, tmp_path):
    """`limit` (problems evaluated) is not part of decontamination's slice: data and training stay."""
    benchmarks = tiny_config(pipeline_run)["benchmarks"]
    benchmarks[0]["limit"] += 1
    jobs = dry_run(pipeline_run, overlay(tmp_path, {"benchmarks": benchmarks}))
    assert jobs == Counter(
        {
            "eval_generate": all_jobs["eval_generate"] // len(benchmarks),
            "eval_table": 1,
            "report_assets": 1,
            "distill_all": 1,
        }
    )


def test_changing_a_distill_dataset_filter_keeps_the_teacher_samples(pipeline_run, all_jobs, tmp_path):
    """`distill.min_examples` is read by distill_dataset only: the (expensive) teacher generation stays."""
    cfg = tiny_config(pipeline_run)
    n_students, n_benchmarks = len(cfg["distill"]["students"]), len(cfg["benchmarks"])
    jobs = dry_run(
        pipeline_run, overlay(tmp_path, {"distill": {"min_examples": cfg["distill"]["min_examples"] + 1}})
    )
    assert jobs == Counter(
        {
            "distill_dataset": 1,
            "distill_student": n_students,
            "eval_generate": n_students * n_benchmarks,
            "eval_table": 1,
            "report_assets": 1,
            "distill_all": 1,
        }
    )


def test_evaluating_fewer_models_reruns_only_the_table_and_the_report(pipeline_run, tmp_path):
    """`eval.models` shapes the DAG and the table, not the eval protocol of each remaining job."""
    models = [m for m in pipeline.model_stages() if m != "base"] + [pipeline.STUDENTS]
    jobs = dry_run(pipeline_run, overlay(tmp_path, {"eval": {"models": models}}))
    assert jobs == Counter({"eval_table": 1, "report_assets": 1, "distill_all": 1})


# 4
#
#
# ----------------------------------------------------------------------------------------------------------
def rules_running(module: str, cfg: dict) -> list[str]:
    """The rules whose code input (the import closure of what they run, r1/codedeps.py) holds `module`."""
    return [s.rule for s in pipeline.active_stages(cfg) if module in pipeline.code(s)]


def test_editing_a_module_reruns_exactly_the_rules_that_import_it_and_their_dependants(
    pipeline_run, tmp_path
):
    """Each edit: the dry run is what Snakemake calls "these rules and everything downstream" (--forcerun),
    the
    rules being those whose imports reach the module; then the edit is undone (same content: nothing to
    do)."""
    run = copy_run(pipeline_run, tmp_path / "run")
    cfg = run_config(run)
    cases = {
        # the CUDA decoder and the GRPO rollout override: before the import closure, RL did not rerun
        "r1/engine.py": {"rl_zero", "rl_reasoning", "cold_start_generate", "eval_generate"},
        "r1/rewards.py": {"rl_zero", "rl_reasoning"},
        "r1/filters.py": {"cold_start_generate", "rejection_sampling", "distill_dataset"},
        "r1/train.py": {"rl_zero", "cold_start_sft", "sft", "distill_student"},
        "r1/eval/table.py": {"eval_table"},
        "r1/report.py": {"report_assets"},
    }
    for module, some_rules in cases.items():
        rules = rules_running(module, cfg)
        assert some_rules <= set(rules), (module, rules)
        path = run / module
        original = path.read_text()
        path.write_text(original + "\n# edited\n")
        assert dry_run(run) == dry_run(pipeline_run, extra=("--forcerun", *rules)), module
        path.write_text(original)
    assert "rl_zero" not in rules_running("r1/filters.py", cfg) and "data_prepare" not in rules_running(
        "r1/train.py", cfg
    )
    assert dry_run(run) == Counter()


def test_a_new_rl_stage_is_one_stage_table_row_and_its_config_block(pipeline_run, tmp_path):
    """An RL stage after rl_reasoning: one line in r1/pipeline.py, one config block; Snakemake schedules it,
    its
    evaluations on every benchmark, the table and the report (with its curves), and nothing else."""
    run = copy_run(pipeline_run, tmp_path / "run")
    table = run / "r1/pipeline.py"
    row = '    rl_stage("rl_reasoning", parent="cold_start_sft"),\n'
    assert row in table.read_text()
    table.write_text(
        table.read_text().replace(row, row + '    rl_stage("rl_extra", parent="rl_reasoning"),\n')
    )
    cfg = tiny_config(run)
    block = overlay(tmp_path, {"rl_extra": {**cfg["rl_reasoning"], "num_prompts": 4}})
    jobs = dry_run(run, block)
    assert jobs == Counter(
        {
            "rl_extra": 1,
            "eval_generate": len(cfg["benchmarks"]),
            "eval_table": 1,
            "report_assets": 1,
            "distill_all": 1,
        }
    )
    plan = snakemake(run, str(block), "-n", "distill_all").stdout
    assert (
        "results/report/rl_curves/rl_extra.png" in plan and "results/eval/rl_extra/gsm8k/summary.json" in plan
    )
    # its config block is validated like any RL stage's
    bad = overlay(tmp_path, {"rl_extra": {**cfg["rl_reasoning"], "trl": {"bta": 0.1}}}, name="bad.yaml")
    proc = snakemake(run, str(bad), "-n", "distill_all", check=False)
    assert proc.returncode != 0 and "rl_extra.trl.bta" in proc.stdout + proc.stderr


def test_an_upstream_rebuilt_with_identical_outputs_reruns_its_dependants_and_the_audit_agrees(
    pipeline_run, tmp_path
):
    """Snakemake and `r1 audit` agree on what is out of date: each rule also takes its upstream manifests as
    inputs, so an upstream that was rebuilt (new manifest) reruns its dependants even if its outputs came out
    byte-identical, which is exactly what the audit calls stale."""
    run = copy_run(pipeline_run, tmp_path / "run")
    manifest = run / "results/data/manifest.json"
    data = json.loads(manifest.read_text())
    data["finished"] = "rebuilt"
    manifest.write_text(json.dumps(data))
    jobs = dry_run(run)
    expected = dry_run(pipeline_run, extra=("--forcerun", "data_prepare"))
    del expected["data_prepare"]
    assert jobs == expected
    proc = r1_audit(run)
    assert proc.returncode == 1
    for artifact in ("results/rl_zero/model", "results/cold_start/dataset.parquet", "results/eval/table.csv"):
        assert re.search(rf"^stale\s+{re.escape(artifact)}\s", proc.stdout, re.M), artifact
    assert re.search(r"^ok\s+results/data/train.parquet\s", proc.stdout, re.M)
    assert "upstream manifest results/data/manifest.json changed" in proc.stderr


# 5
#
#
# ----------------------------------------------------------------------------------------------------------
def test_a_config_key_no_rule_reads_schedules_nothing(pipeline_run, tmp_path):
    assert tiny_config(pipeline_run)["run_name"] != "renamed"
    assert dry_run(pipeline_run, overlay(tmp_path, {"run_name": "renamed"})) == Counter()


def test_reordering_the_keys_of_a_config_mapping_schedules_nothing(pipeline_run, tmp_path):
    """Snakemake compares params by repr(): rules/common.smk sorts the config's keys (order is no change)."""
    sources = tiny_config(pipeline_run)["data"]["sources"]
    reordered = [dict(reversed(list(source.items()))) for source in sources]
    assert [list(s) for s in reordered] != [list(s) for s in sources]
    assert (
        dry_run(pipeline_run, overlay(tmp_path, {"data": {"sources": reordered}}, sort_keys=False))
        == Counter()
    )


# manifests
# ----------------------------------------------------------------------------------------------------------
def test_manifests_chain_every_artifact_back_to_its_sources(pipeline_run):
    results = pipeline_run / "results"
    manifests = {
        str(p.relative_to(pipeline_run)): json.loads(p.read_text()) for p in results.rglob("manifest.json")
    }

    def ancestors(name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            for up, recorded in manifests[todo.pop()]["upstream_manifests"].items():
                assert recorded == sha256_file(pipeline_run / up), f"{name}: chain to {up} broken"
                if up not in seen:
                    seen.add(up)
                    todo.append(up)
        return seen

    chain = ancestors("results/distill/students/tiny_qwen/manifest.json")
    assert {
        "results/data/manifest.json",
        "results/base_model/manifest.json",
        "results/rl_zero/manifest.json",
        "results/sft_stabilize/manifest.json",
        "results/distill/manifest.json",
    } <= chain
    data = manifests["results/data/manifest.json"]
    assert data["upstream_manifests"] == {}  # a root of the chain: it records the sources themselves
    assert data["inputs"][DATA_SOURCE] == sha256_file(pipeline_run / DATA_SOURCE)
    assert data["params"]["cfg"] == run_config(pipeline_run)["data"]  # its own config slice, nothing else
    rl = manifests["results/rl_zero/manifest.json"]
    assert "r1/rewards.py" in rl["code_files"] and "r1/data.py" not in rl["code_files"]
    assert rl["outputs"]["results/rl_zero/model"] == sha256_path(pipeline_run / "results/rl_zero/model")
    for key in ("torch", "transformers", "trl", "snakemake", "r1"):
        assert key in rl["versions"], key
    assert rl["command"] and rl["host"] and rl["started"] <= rl["finished"] and rl["seed"] == 0


# 6
#
#
# ----------------------------------------------------------------------------------------------------------
def r1_audit(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "r1", "audit", "results/", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_clean_run_audits_ok(pipeline_run):
    proc = r1_audit(pipeline_run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "audit ok" in proc.stdout
    for artifact in ("results/data/train.parquet", "results/rl_zero/model", "results/eval/table.html"):
        assert re.search(rf"^ok\s+{re.escape(artifact)}\s", proc.stdout, re.M), artifact


def test_one_modified_byte_fails_the_audit_and_names_the_artifact(pipeline_run, tmp_path):
    run = copy_run(pipeline_run, tmp_path / "run")
    artifact = "results/data/train.parquet"
    data = bytearray((run / artifact).read_bytes())
    data[len(data) // 2] ^= 0x01
    (run / artifact).write_bytes(bytes(data))
    proc = r1_audit(run)
    assert proc.returncode == 1
    assert re.search(rf"^modified\s+{re.escape(artifact)}\s", proc.stdout, re.M)
    assert f"culprit: {artifact} is modified" in proc.stderr
    # Whatever was made from it is stale; what was not is still ok.
    assert re.search(r"^stale\s+results/rl_zero/model\s", proc.stdout, re.M)
    assert re.search(r"^stale\s+results/distill/students/tiny_qwen/model\s", proc.stdout, re.M)
    assert re.search(r"^ok\s+results/base_model/model\s", proc.stdout, re.M)


# 7
#
#
# ----------------------------------------------------------------------------------------------------------
def report_results(html: str) -> dict[str, dict]:
    """The results embedded in a Snakemake HTML report: {path: {labels, caption, mime_type, data_uri}}."""
    match = re.search(r"var results = (\{.*?\});\n", html, re.S)
    assert match, "no embedded results in the report"
    return json.loads(match.group(1))


def decode(entry: dict) -> bytes:
    return base64.b64decode(entry["data_uri"].split("base64,", 1)[1])


def test_the_report_contains_eval_table_rl_plots_data_stats_and_provenance(pipeline_run, tmp_path):
    run = copy_run(pipeline_run, tmp_path / "run")
    snakemake(run, "--report", "results/report.html", "distill_all")
    results = report_results((run / "results/report.html").read_text())

    table = decode(results["results/eval/table.html"]).decode()
    assert "Evaluation table" in results["results/eval/table.html"]["caption"]
    for name in (
        "rl_zero",
        "rl_reasoning",
        "sft_stabilize",
        "distill_tiny_qwen",
        "gsm8k",
        "latex_toy",
        "pass@1",
    ):
        assert name in table, name

    for stage in ("rl_zero", "rl_reasoning"):  # rl_final is off in the tiny config
        entry = results[f"results/report/rl_curves/{stage}.png"]
        assert entry["mime_type"] == "image/png" and entry["labels"]["stage"] == stage
        assert decode(entry)[:8] == b"\x89PNG\r\n\x1a\n"
        assert "KL" in entry["caption"]
    assert not any("rl_final" in path for path in results)

    stats = json.loads((run / "results/data/stats.json").read_text())
    page = decode(results["results/report/data_stats.html"]).decode()
    for col in ("quarantined", "decontaminated", "kept"):
        assert col in page, col
    for source, st in stats["sources"].items():
        row = re.search(rf"<td>{source}</td>(.*?)</tr>", page, re.S)
        assert row, source
        cells = [int(c) for c in re.findall(r"<td>(\d+)</td>", row.group(1))]
        assert cells == [
            st["rows_in"],
            st["quarantined"],
            st["duplicates"],
            st["contaminated"],
            st["kept"],
            st["train"],
            st["eval"],
        ]
    assert (
        stats["sources"]["tiny_prompts"]["quarantined"] >= 1
        and stats["sources"]["tiny_prompts"]["contaminated"] >= 1
    )

    yield_page = decode(results["results/report/generation_yield.html"]).decode()
    assert "<td>distill</td>" in yield_page and "yield" in yield_page

    provenance = decode(results["results/report/provenance.html"]).decode()
    rl = json.loads((run / "results/rl_zero/manifest.json").read_text())
    assert rl["code_sha256"][:12] in provenance and rl["config_sha256"][:12] in provenance
    assert rl["versions"]["torch"] in provenance and rl["versions"]["trl"] in provenance
    for entry in results.values():
        assert entry["caption"].strip(), entry["name"]  # every asset has its .rst caption
