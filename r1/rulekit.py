"""The edge between Snakemake and r1: one job = one JobSpec, run in-process or under a multi-GPU launcher.

Every rule script is two lines: `from r1.rulekit import run_rule; run_rule(snakemake,
"r1.stages.<kind>:<name>")`. run_rule sends the job's output to its log, runs it, and writes the provenance
manifest last, so a job killed midway leaves no manifest (downstream rules depend on it) and Snakemake removes
its other outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r1.manifest import build_manifest, write_manifest

log = logging.getLogger("r1")
# The directory in which a job's sampling keeps its finished chunks (r1.generation_resume), set per job
RESUME_ENV = "R1_RESUME_DIR"


@dataclass
class JobSpec:
    target: str  # "module:function"
    rule: str
    input: dict[str, list[str]]
    output: dict[str, list[str]]
    params: dict
    log: str | None = None
    threads: int = 1
    resources: dict = field(default_factory=dict)
    wildcards: dict = field(default_factory=dict)
    tracking: dict = field(
        default_factory=dict
    )  # config `tracking` (r1/tracking.py): not a param, reruns nothing

    def one(self, section: str, name: str) -> str:
        paths = getattr(self, section)[name]
        if len(paths) != 1:
            raise ValueError(f"rule {self.rule}: {section}.{name} has {len(paths)} paths, expected 1")
        return paths[0]

    def inp(self, name: str) -> str:
        return self.one("input", name)

    def out(self, name: str) -> str:
        return self.one("output", name)

    def inputs(self, name: str) -> list[str]:
        return self.input.get(name, [])

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 0))

    @property
    def cfg(self) -> dict:
        return self.params.get("cfg", {})

    @property
    def gpus(self) -> int:
        """GPUs granted to this job (per node)."""
        return int(self.resources.get("gpu", 0) or 0)

    @classmethod
    def from_snakemake(cls, smk, target: str) -> JobSpec:
        def named(io) -> dict[str, list[str]]:
            out = {}
            for name, value in io.items():
                out[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            return out

        resources = {
            k: v
            for k, v in smk.resources.items()
            if isinstance(v, (int, float, str)) and not k.startswith("_")
        }
        return cls(
            target=target,
            rule=smk.rule,
            input=named(smk.input),
            output=named(smk.output),
            params=_plain(dict(smk.params.items())),
            log=str(smk.log[0]) if len(smk.log) else None,
            threads=int(smk.threads),
            resources=resources,
            wildcards=dict(smk.wildcards.items()),
            tracking=_plain(smk.config.get("tracking") or {}),
        )


def _plain(obj):
    """Snakemake hands params as its own Namedlist/dict subclasses; make them JSON-plain."""
    return json.loads(json.dumps(obj, default=lambda o: dict(o) if hasattr(o, "items") else list(o)))


def _resolve(target: str):
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@contextlib.contextmanager
def redirect_to_log(path: str | None):
    """Send this process's stdout and stderr (file descriptors, so subprocesses and C code too) to the log."""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1) as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_job(spec: JobSpec) -> None:
    setup_logging()
    os.environ["R1_TRACKING"] = json.dumps(spec.tracking)  # read by r1.tracking in training jobs
    # The job's threads for torch's intra-op pool, without importing torch (~2 s a process): jobs that never
    # use it (data, tables, report) skip it; torch reads OMP_NUM_THREADS when the stage imports it.
    threads = max(1, spec.threads)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    log.info(
        "rule %s: start (target %s, threads %d, resources %s)",
        spec.rule,
        spec.target,
        spec.threads,
        spec.resources,
    )
    _resolve(spec.target)(spec)
    log.info("rule %s: done", spec.rule)


def _launch_argv(spec: JobSpec, spec_path: str) -> list[str] | None:
    """None for a one-process job; else the launcher argv for the GPUs and nodes granted (r1.launch)."""
    from r1 import launch

    return launch.job_launch_argv(spec.resources, ["r1", "job", spec_path], spec.params.get("deepspeed"))


def resume_dir(spec: JobSpec) -> Path:
    """Where the job's sampling saves finished chunks (r1.generation_resume): `.resume/<rule>/<wildcards>`
    in the workflow's directory, outside every declared output, so Snakemake's cleanup of a failed job keeps
    it."""
    tag = "__".join(f"{k}={v}" for k, v in sorted(spec.wildcards.items())) or "_"
    safe = "".join(c if c.isalnum() or c in "=._-" else "_" for c in tag)
    return Path(".resume", spec.rule, safe).resolve()


def run_rule(smk, target: str) -> None:
    """Entry point for rule scripts: run the job (maybe multi-process) and write its manifest."""
    spec = JobSpec.from_snakemake(smk, target)
    started = dt.datetime.now(dt.UTC).isoformat()
    resume = os.environ[RESUME_ENV] = str(resume_dir(spec))  # inherited by a launcher's processes
    with redirect_to_log(spec.log):
        setup_logging()
        # Beside the log (shared filesystem), not /tmp: the other nodes of a multi-node job read it too.
        spec_dir = Path(spec.log).parent if spec.log else Path(".snakemake")
        spec_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".jobspec.json", dir=spec_dir, delete=False) as f:
            json.dump(asdict(spec), f)
            spec_path = f.name
        try:
            argv = _launch_argv(spec, spec_path)
            if argv:
                log.info("rule %s: launching %s", spec.rule, " ".join(argv))
                subprocess.run(argv, check=True)
            else:
                run_job(spec)
        finally:
            os.unlink(spec_path)
        shutil.rmtree(resume, ignore_errors=True)  # the job succeeded: its chunks live in its outputs now
        for empty in (Path(resume).parent, Path(resume).parent.parent):  # .resume/<rule>, .resume, if empty
            with contextlib.suppress(OSError):
                empty.rmdir()
        if "manifest" in spec.output:
            code = spec.inputs("code")
            manifest = build_manifest(
                rule=spec.rule,
                inputs=spec.input,
                outputs=spec.output,
                params=spec.params,
                code_files=code,
                seed=spec.params.get("seed"),
                started=started,
                finished=dt.datetime.now(dt.UTC).isoformat(),
                manifest_path=spec.out("manifest"),
            )
            write_manifest(spec.out("manifest"), manifest)
            log.info("rule %s: manifest %s", spec.rule, spec.out("manifest"))


def main(argv: list[str]) -> int:
    """`python -m r1 job SPEC.json`: one process of a (multi-process) job."""
    if len(argv) != 1:
        print("usage: python -m r1 job SPEC.json", file=sys.stderr)
        return 2
    spec = JobSpec(**json.loads(Path(argv[0]).read_text()))
    run_job(spec)
    return 0
