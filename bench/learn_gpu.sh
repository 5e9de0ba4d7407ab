#!/usr/bin/env bash
# On the lent GPU (after bench/gpu_setup.sh finish): run or resume learning experiments for N minutes, then
# write the report and the arms' logs to $OUT (at most 6 files: the lent machine returns 8; docs/gpu.md).
#   bash bench/learn_gpu.sh E1 8 [--arms a,b]                         one experiment
#   bash bench/learn_gpu.sh "E2 E3 E1:grpo_drgrpo,random_reward" 8    several side by side (EXP[:ARMS] each)
#   bash bench/learn_gpu.sh "E4:lease@6 E2" 8                          @N: Snakemake cores per arm (default 3)
# A call lasts N minutes + up to 1 (the arms' stop, r1/learn.py STOP_GRACE_S) + ~1 (report, archive): N <= 7.5
# in a 10-minute call, 6.5 in the setup call (`finish` takes ~50 s).
set -uo pipefail
exps=$1; minutes=$2; shift 2
OUT=${OUT:-/tmp/r1-out}; mkdir -p "$OUT"
source bench/gpu_setup.sh env
export R1_GRADER_WORKERS=${R1_GRADER_WORKERS:-2}
mkdir -p /root/w/runs
# Snakemakes of an earlier call that outlived it (a call's time limit kills this script, not them; 2026-12-03):
# stop them first, else `learn run` skips their arms as busy (the arm lock in r1/learn.py)
left() { pgrep -f -- "-m snakemake -s .*Snakefile --directory /root/w/runs"; }
for pid in $(left); do kill -INT -- "-$pid" 2>/dev/null; done
for _ in $(seq 60); do left >/dev/null || break; sleep 1; done
for pid in $(left); do kill -KILL -- "-$pid" 2>/dev/null; done
for e in $exps; do
  cores=3; [[ $e == *@* ]] && cores=${e##*@} && e=${e%@*}
  arms=(); [[ $e == *:* ]] && arms=(--arms "${e#*:}")
  python3 -m r1 learn run "${e%%:*}" --device gpu --minutes "$minutes" --runs /root/w/runs \
    --config /root/w/base.yaml --cores "$cores" "${arms[@]}" "$@" > "/root/w/runs/learn_${e%%:*}.log" 2>&1 &
done
wait
for e in $exps; do e=${e%@*}; grep "^\[learn\]" "/root/w/runs/learn_${e%%:*}.log" | tail -n 20; done
python3 -m r1 learn report --runs /root/w/runs --out "$OUT/res" --device gpu --commit "${R1_COMMIT:-unknown}" \
  > "$OUT/report.log" 2>&1
tail -n 40 "$OUT/report.log"
# logs, metrics, tables and small records (a returned file is at most 16 MiB: the 2026-12-03 tar of everything was
# larger and did not come back); only logs and metrics when that is still too large
small() { find . -path '*/checkpoint-*' -prune -o -path '*/.snakemake' -prune -o -type f -size -2M \( "$@" \) -print; }
(cd /root/w/runs && small -name '*.log' -o -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.txt' \
  -o -name '*.tsv' -o -name '*.png' | tar czf "$OUT/runs_logs.tgz" -T -
  [ "$(stat -c %s "$OUT/runs_logs.tgz")" -lt 15000000 ] \
    || small -name '*.log' -o -name 'metrics.jsonl' -o -name '*.md' -o -name '*.txt' | tar czf "$OUT/runs_logs.tgz" -T -)
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
