#!/usr/bin/env bash
# On the lent GPU (after bench/gpu_setup.sh finish): run or resume a learning experiment for N minutes, then
# write the report and the arms' logs to $OUT (docs/gpu.md).   bash bench/learn_gpu.sh E1 8 [--arms a,b]
set -uo pipefail
exp=$1; minutes=$2; shift 2
OUT=${OUT:-/tmp/r1-out}; mkdir -p "$OUT"
source bench/gpu_setup.sh env
export R1_GRADER_WORKERS=${R1_GRADER_WORKERS:-2}
python3 -m r1 learn run "$exp" --device gpu --minutes "$minutes" --runs /root/w/runs --config /root/w/base.yaml \
  --cores 3 "$@" > "$OUT/learn_$exp.log" 2>&1
grep "^\[learn\]" "$OUT/learn_$exp.log" | tail -n 20
python3 -m r1 learn report --runs /root/w/runs --out "$OUT/res" --device gpu --commit "${R1_COMMIT:-unknown}" \
  > "$OUT/report.log" 2>&1
tail -n 40 "$OUT/report.log"
(cd /root/w/runs && tar czf "$OUT/runs_logs.tgz" --exclude='checkpoint-*' --exclude='model' --exclude='*.parquet' \
  --exclude='.snakemake' .)
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
