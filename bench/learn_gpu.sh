#!/usr/bin/env bash
# On the lent GPU (after bench/gpu_setup.sh finish): run or resume learning experiments for N minutes, then
# write the report and the arms' logs to $OUT (at most 6 files: the lent machine returns 8; docs/gpu.md).
#   bash bench/learn_gpu.sh E1 8 [--arms a,b]                         one experiment
#   bash bench/learn_gpu.sh "E2 E3 E1:grpo_drgrpo,random_reward" 8    several side by side (EXP[:ARMS] each)
#   bash bench/learn_gpu.sh "E4:lease@6 E2" 8                          @N: Snakemake cores per arm (default 3)
#   R1_DETACH=27 bash bench/learn_gpu.sh "E4:lease@16" 6 --gpu-slots 4   detached (below)
# Arguments after N go to every `r1 learn run` (e.g. --gpu-slots 4: GPU jobs of an arm at once).
#
# R1_DETACH=M: the experiments start in sessions of their own with a time limit of M minutes and outlive the
# call; this call and every later one (same R1_DETACH set; they start nothing while the experiments run) watch
# them for N minutes or until they end, then return the report and logs. The lent machine keeps processes
# between calls while warm (30 s), so a lease's calls lose no work at their boundaries. Without it each call
# stops its arms at N minutes and the next resumes them from checkpoints (training) or finished chunks
# (sampling, r1/generation_resume.py); on 2026-12-04, before the chunks, E4's `sft_data_generate` restarted in
# each of four calls and never finished.
# A call lasts N minutes + up to 1 (the arms' stop, r1/learn.py STOP_GRACE_S) + ~1 (report, archive): N <= 7.5
# in a 10-minute call, 6.5 in the setup call (`finish` takes ~50 s).
set -uo pipefail
exps=$1; minutes=$2; shift 2
OUT=${OUT:-/tmp/r1-out}; mkdir -p "$OUT"
source bench/gpu_setup.sh env
export R1_GRADER_WORKERS=${R1_GRADER_WORKERS:-2}
mkdir -p /root/w/runs
running() { pgrep -f -- "-m r1 learn run" >/dev/null; }
if [ -n "${R1_DETACH:-}" ] && running; then
  echo "[learn_gpu] the experiments an earlier call started still run: watching them"
else
  # Snakemakes of an earlier call that outlived it (a call's time limit kills this script, not them;
  # 2026-12-03): stop them first, else `learn run` skips their arms as busy (the arm lock in r1/learn.py)
  left() { pgrep -f -- "-m snakemake -s .*Snakefile --directory /root/w/runs"; }
  for pid in $(left); do kill -INT -- "-$pid" 2>/dev/null; done
  for _ in $(seq 60); do left >/dev/null || break; sleep 1; done
  for pid in $(left); do kill -KILL -- "-$pid" 2>/dev/null; done
  for e in $exps; do
    cores=3; [[ $e == *@* ]] && cores=${e##*@} && e=${e%@*}
    arms=(); [[ $e == *:* ]] && arms=(--arms "${e#*:}")
    run=(python3 -m r1 learn run "${e%%:*}" --device gpu --minutes "${R1_DETACH:-$minutes}" --runs /root/w/runs
      --config /root/w/base.yaml --cores "$cores" "${arms[@]}" "$@")
    log="/root/w/runs/learn_${e%%:*}.log"
    if [ -n "${R1_DETACH:-}" ]; then  # its own session: outlives this call (not waited for below)
      setsid nohup "${run[@]}" > "$log" 2>&1 < /dev/null &
    else
      "${run[@]}" > "$log" 2>&1 &
    fi
  done
fi
if [ -n "${R1_DETACH:-}" ]; then  # watch for N minutes, or until every experiment has ended
  sleep 5
  end=$((SECONDS + $(awk "BEGIN {print int($minutes * 60)}")))
  while running && [ $SECONDS -lt $end ]; do sleep 5; done
  for f in /root/w/runs/*/*/learn.log; do [ -f "$f" ] && echo "$f: $(grep -h 'steps (.*) done' "$f" | tail -n 1)"; done
else
  wait
fi
for e in $exps; do e=${e%@*}; grep "^\[learn\]" "/root/w/runs/learn_${e%%:*}.log" | tail -n 20; done
python3 -m r1 learn report --runs /root/w/runs --out "$OUT/res" --device gpu --commit "${R1_COMMIT:-unknown}" \
  > "$OUT/report.log" 2>&1
tail -n 40 "$OUT/report.log"
# logs, metrics, tables and small records (a returned file is at most 16 MiB: the 2026-12-03 tar of everything was
# larger and did not come back); only logs and metrics when that is still too large
small() { find . -path '*/checkpoint-*' -prune -o -path '*/.snakemake' -prune -o -type f -size -2M \( "$@" \) -print; }
(cd /root/w/runs && small -name '*.log' -o -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.txt' -o -name '*.csv' \
  -o -name '*.tsv' -o -name '*.png' | tar czf "$OUT/runs_logs.tgz" -T -
  [ "$(stat -c %s "$OUT/runs_logs.tgz")" -lt 15000000 ] \
    || small -name '*.log' -o -name 'metrics.jsonl' -o -name '*.md' -o -name '*.txt' | tar czf "$OUT/runs_logs.tgz" -T -)
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
