"""r1.rulekit.run_job: a job gets its Snakemake threads in torch without importing torch itself (~2 s per
process: data, table and report jobs never need it)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from r1.rulekit import JobSpec, run_job

def probe(spec):
    before = "torch" in sys.modules
    import torch
    print(json.dumps({"torch_before": before, "threads": torch.get_num_threads()}))

sys.modules["__main__"].probe = probe
run_job(JobSpec(target="__main__:probe", rule="probe", input={}, output={}, params={}, threads=THREADS))
"""


def _run(threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.replace("THREADS", str(threads))],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_job_gets_its_threads_and_torch_is_imported_only_by_the_stage():
    one, two = _run(1), _run(2)
    assert not one["torch_before"] and not two["torch_before"]
    assert (one["threads"], two["threads"]) == (1, 2)
