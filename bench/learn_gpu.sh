#!/usr/bin/env bash
# On the lent GPU (after bench/gpu_setup.sh finish): run or resume learning experiments for N minutes, then
# write the report and the arms' logs to $OUT (at most 6 files: the lent machine returns 8; docs/gpu.md).
#   bash bench/learn_gpu.sh E1 8 [--arms a,b]                         one experiment
#   bash bench/learn_gpu.sh "E2 E3 E1:grpo_drgrpo,random_reward" 8    several side by side (EXP[:ARMS] each)
set -uo pipefail
exps=$1; minutes=$2; shift 2
OUT=${OUT:-/tmp/r1-out}; mkdir -p "$OUT"
source bench/gpu_setup.sh env
export R1_GRADER_WORKERS=${R1_GRADER_WORKERS:-2}
mkdir -p /root/w/runs
for e in $exps; do
  arms=(); [[ $e == *:* ]] && arms=(--arms "${e#*:}")
  python3 -m r1 learn run "${e%%:*}" --device gpu --minutes "$minutes" --runs /root/w/runs \
    --config /root/w/base.yaml --cores 3 "${arms[@]}" "$@" > "/root/w/runs/learn_${e%%:*}.log" 2>&1 &
done
wait
for e in $exps; do grep "^\[learn\]" "/root/w/runs/learn_${e%%:*}.log" | tail -n 20; done
python3 -m r1 learn report --runs /root/w/runs --out "$OUT/res" --device gpu --commit "${R1_COMMIT:-unknown}" \
  > "$OUT/report.log" 2>&1
tail -n 40 "$OUT/report.log"
(cd /root/w/runs && tar czf "$OUT/runs_logs.tgz" --exclude='checkpoint-*' --exclude='model' --exclude='*.parquet' \
  --exclude='.snakemake' .)
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
