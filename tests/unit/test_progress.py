"""Long loops report progress with rates in their job's log: one plain line per update, no redraws."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import sys
import pandas as pd
from r1.grading import grade_batch
from r1.data import decontaminate_rows
from r1.generation import SamplingParams, load_generator

grade_batch(["\\\\boxed{%d}" % i for i in range(600)], [str(i) for i in range(600)], desc="grade demo")
decontam = {"benchmarks": [], "ngram": 10, "min_overlap": 0.5, "drop": True}
decontaminate_rows(pd.DataFrame({"prompt": ["a b c"] * 3}), "prompt", decontam)
gen = load_generator(sys.argv[1], "transformers", batch_size=2, dtype="float32", device="cpu")
params = SamplingParams(n=2, temperature=1.0, top_p=1.0, max_new_tokens=4, seed=0)
gen.generate(["Hi", "Hello", "Hey"], params, desc="sample demo")
"""


def test_progress_lines_in_a_log_file(tmp_path, tiny_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "R1_NO_PROGRESS"}
    env.update(R1_PROGRESS_INTERVAL="0", PYTHONPATH=str(REPO))
    log = tmp_path / "job.log"
    with open(log, "w") as f:  # stderr is a file, as under r1.rulekit
        subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_model_dir)], stderr=f, check=True, env=env)
    lines = log.read_text().splitlines()
    assert not any("\r" in ln for ln in lines)
    grade = [ln for ln in lines if ln.startswith("grade demo:")]
    assert grade[-1].startswith("grade demo: 100%") and "600/600" in grade[-1] and "item/s" in grade[-1]
    assert any("512/600" in ln for ln in grade)  # updated per chunk of r1.grading.PROGRESS_CHUNK
    assert any(ln.startswith("decontaminate prompt: 100%") and "row/s" in ln for ln in lines)
    sample = [ln for ln in lines if ln.startswith("sample demo:")]
    assert "6/6" in sample[-1] and re.search(r"(sample/s|s/sample)", sample[-1]) and "new tok/s" in sample[-1]
