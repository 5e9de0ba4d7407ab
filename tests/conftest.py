"""Shared fixtures: a tiny random-init model with the SmolLM2 tokenizer, and one tiny end-to-end DAG run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = str(VENV_BIN / "snakemake")
TINY = "tests/configs/tiny.yaml"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# The two long runs first: under pytest-xdist (`make test`: -n 2 --dist loadfile --no-loadscope-reorder,
# which sends whole files to a worker in this order) the Slurm DAG run (test_slurm.py) and the local
# tiny DAG run (`pipeline_run`, first needed by test_pipeline_e2e.py) start at once on the two
# workers; the short tests fill in after them.
LONG_FIRST = (
    "tests/pipeline/test_slurm.py",
    "tests/pipeline/test_pipeline_e2e.py",
    "tests/pipeline/test_reproducibility.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONG_FIRST)}
    # a stable sort: the order within each file, and among the other files, is kept
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONG_FIRST)))


def pytest_terminal_summary(terminalreporter):
    """Print tables that tests record with `record_property("peer_agreement", text)` (also under xdist)."""
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(report, "user_properties", []):
            if key == "peer_agreement":
                terminalreporter.write_sep("-", "peer grader suites")
                terminalreporter.write_line(value)


def tiny_llama_arch(**overrides) -> dict:
    """The tests' tiny Llama (2 layers, width 64) with the SmolLM2 tokenizer's vocabulary."""
    return {
        "architecture": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 256,
        **overrides,
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 3M-parameter random-init Llama with the SmolLM2 tokenizer and r1's chat template."""
    from r1.models import load_smollm2_tokenizer, random_init_model, save_model
    from r1.prompts import R1_CHATML_TEMPLATE

    out = tmp_path_factory.mktemp("tiny_model") / "model"
    tok = load_smollm2_tokenizer()
    tok.chat_template = R1_CHATML_TEMPLATE
    model = random_init_model(tiny_llama_arch(), tok, seed=0)
    save_model(model, tok, out)
    return out


def copy_repo(dest: Path) -> Path:
    """Copy the checkout's tracked and untracked (not ignored) files: a workdir the tests may edit freely."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for f in files:
        src = REPO / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 1800
) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--configfile", "config.yaml", TINY, *args]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "R1_NO_PROGRESS": "1"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


def dry_run(
    workdir: Path, *overlays: Path, target: str = "distill_all", extra: tuple[str, ...] = ()
) -> Counter:
    """The jobs `snakemake -n` would run: {rule: count} from its "Job stats" table (empty: nothing to do)."""
    # the target before `extra`: --forcerun takes every argument after it
    cmd = [SNAKEMAKE, "--configfile", "config.yaml", TINY, *map(str, overlays), "-n", target, *extra]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-6000:]}"
    if "Nothing to be done" in out:
        return Counter()
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Job stats:")) + 3  # title, header, dashes
    jobs = Counter()
    for ln in lines[start:]:
        name, _, count = ln.strip().rpartition(" ")
        if not ln.strip() or name.strip() == "total":
            break
        jobs[name.strip()] = int(count)
    assert jobs, f"no job table in:\n{out[-4000:]}"
    return jobs


def copy_run(src: Path, dest: Path) -> Path:
    """A private copy of a finished run: same files, same mtimes, same Snakemake metadata (.snakemake/)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def overlay(tmp_path: Path, cfg: dict, name: str = "overlay.yaml", sort_keys: bool = True) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=sort_keys))
    return path


def tiny_config(workdir: Path) -> dict:
    """The tiny run's config as written: config.yaml, tests/configs/tiny.yaml over it (Snakemake's merge)."""
    from r1.config import merge

    return merge(
        yaml.safe_load((workdir / "config.yaml").read_text()), yaml.safe_load((workdir / TINY).read_text())
    )


def run_config(workdir: Path) -> dict:
    """The tiny run's config as the rules see it: validated, every default filled in (r1/config.py)."""
    from r1.config import validate_config

    return validate_config(tiny_config(workdir), check_files=False)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, request) -> Path:
    """One full tiny run of `distill_all` in a copy of the repo (shared by the e2e, reproducibility and Slurm
    tests).

    Under pytest-xdist (`make test` runs two workers) the run is shared by all workers: the first
    worker that needs it runs it while holding a file lock; the others wait and reuse it. Tests
    never edit it in place (they copy it first).
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker
        root = root.parent  # the directory all workers' base temp dirs share
    workdir, done, failed = root / "pipeline_run", root / "pipeline_run.done", root / "pipeline_run.failed"
    with FileLock(str(root / "pipeline_run.lock")):
        if failed.exists():
            raise AssertionError(
                f"the shared tiny pipeline run failed in another worker:\n{failed.read_text()}"
            )
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            copy_repo(workdir)
            try:
                snakemake(workdir, "--cores", "2", "distill_all")
            except AssertionError as err:
                failed.write_text(str(err))
                raise
            done.touch()
    return workdir
