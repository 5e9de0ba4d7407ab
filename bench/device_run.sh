#!/usr/bin/env bash
# GPU benchmarks + the tiny DAG on one CUDA machine, logs to $OUT (docs/gpu.md).
#
#   bash bench/device_run.sh [bench|gen|grpo|sft|dag|all]     (default: all; bench = gen + grpo + sft)
#
# Expects, next to the checkout (both git-ignored): .whl/ with the py3.12 wheels of what the machine lacks
# (trl, datasets, snakemake, math-verify, reasoning-gym, jsonschema and their missing dependencies; see
# docs/gpu.md) and .gpu/smollm2_tokenizer (r1.models.load_smollm2_tokenizer().save_pretrained(...)), since the
# SmolLM2 GGUF (98 MB) does not travel: the models are random-init with that tokenizer. The SFT bench uses the
# real SmolLM2-135M-Instruct weights instead where bench/gpu_setup.sh finish has converted them (/root/w/base).
set -uo pipefail
OUT=${OUT:-/tmp/r1-gpu-out}
mkdir -p "$OUT"
what=${1:-all}
ROOT=$(pwd)
TOK=$ROOT/.gpu/smollm2_tokenizer
# after bench/gpu_setup.sh's calls the converted SmolLM2 (weights + tokenizer) is there: its tokenizer serves
if [[ ! -d $TOK && -f ${R1_GPU_DIR:-/root/w}/base/tokenizer.json ]]; then TOK=${R1_GPU_DIR:-/root/w}/base; fi

if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 R1_NO_PROGRESS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader | tee "$OUT/env.txt"
python3 -c "import sys, torch, transformers, trl, datasets, snakemake; print(sys.version.split()[0], 'torch', \
torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'datasets', datasets.__version__, \
'snakemake', snakemake.__version__)" 2>&1 | tee -a "$OUT/env.txt"

rc=0
if [[ $what == all || $what == bench || $what == gen ]]; then
  echo "== generation bench"
  python3 bench/generation_gpu.py --tokenizer "$TOK" --also-batch 256 --parity-dtype float32 --json "$OUT/generation.json" \
    > "$OUT/generation.log" 2>&1 || rc=1
  grep -v "Warning\|warn(\|forward_call" "$OUT/generation.log" | tail -n 12
fi
if [[ $what == all || $what == bench || $what == grpo ]]; then
  echo "== GRPO bench"
  python3 bench/grpo_gpu.py --tokenizer "$TOK" --json "$OUT/grpo.json" > "$OUT/grpo.log" 2>&1 || rc=1
  grep -E "^(trl|r1)|GRPO step vs|Error|error" "$OUT/grpo.log" | tail -n 12
fi
if [[ $what == all || $what == bench || $what == sft ]]; then
  echo "== SFT bench"
  base=${R1_GPU_DIR:-/root/w}/base
  if [[ -f $base/config.json ]]; then model=(--model "$base"); else model=(--tokenizer "$TOK"); fi
  python3 bench/sft_gpu.py "${model[@]}" --json "$OUT/sft.json" > "$OUT/sft.log" 2>&1 || rc=1
  sed -n '/^variant /,$p' "$OUT/sft.log"
  grep -E "Error|error" "$OUT/sft.log" | tail -n 5
fi
if [[ $what == all || $what == dag ]]; then
  echo "== tiny DAG on CUDA"
  cat > /tmp/device-overlay.yaml <<EOF
# The SmolLM2 GGUF does not travel: its tokenizer does (random-init models); generation in bf16 (tiny.yaml: fp32).
base_model: {random_init: {tokenizer_path: $TOK}}
generation: {dtype: bfloat16}
# 2 cores per GPU job so 8 of these tiny jobs share the H200 at once (inductor compiles each decode step).
resources: {rl_zero: {cpus: 2}, rl_reasoning: {cpus: 2}, cold_start_generate: {cpus: 2}, cold_start_sft: {cpus: 2},
  rejection_sampling: {cpus: 2}, sft: {cpus: 2}, sft_stabilize: {cpus: 2}, distill_generate: {cpus: 2},
  distill_student: {cpus: 2}, eval_generate: {cpus: 2}}
EOF
  rm -rf /tmp/dag && mkdir -p /tmp/dag
  start=$(date +%s)
  python3 -m snakemake -s "$ROOT/Snakefile" --directory /tmp/dag \
    --configfile "$ROOT/config.yaml" "$ROOT/configs/gpu-small.yaml" "$ROOT/tests/configs/tiny.yaml" \
    /tmp/device-overlay.yaml -c 16 --resources gpu=8 --scheduler greedy --keep-going distill_all \
    > "$OUT/dag.log" 2>&1 || rc=1
  echo "DAG wall: $(( $(date +%s) - start )) s" | tee -a "$OUT/dag.log"
  tail -n 5 "$OUT/dag.log"
  {
    echo "jobs logged on cuda / on cpu (TRL configs), generation backends:"
    grep -rhoE "(GRPOConfig|SFTConfig|GKDConfig) on (cuda|cpu), bf16=(True|False), gradient_checkpointing=(True|False)" /tmp/dag/logs | sort | uniq -c
    grep -rhoE "transformers backend on [a-z:0-9]+ \([a-z0-9]+, [a-z_0-9]+ attention\): [A-Za-z +-]+" /tmp/dag/logs | sort | uniq -c
    grep -rhoE "rollouts [A-Za-z0-9 -]+" /tmp/dag/logs | sort | uniq -c
    echo "per-rule seconds (benchmarks/*.tsv):"
    for f in $(find /tmp/dag/benchmarks -name '*.tsv' | sort); do echo "$(tail -n 1 "$f" | cut -f1) ${f#/tmp/dag/benchmarks/}"; done
    echo "eval table:"; cat /tmp/dag/results/eval/table.md 2>/dev/null
    echo "manifests: $(find /tmp/dag/results -name manifest.json | wc -l)"
  } > "$OUT/dag_summary.txt" 2>&1
  cat "$OUT/dag_summary.txt"
  tar czf "$OUT/dag_logs.tgz" -C /tmp/dag logs benchmarks 2>/dev/null
fi
exit $rc
