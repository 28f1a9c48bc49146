#!/usr/bin/env bash
# Interleaved A/B of the e2e bench between two worktrees, whole processes in turn (A B A B …):
#   bench/ab-e2e.sh <tree A> <tree B> <pairs> [bench args…]   (default args: the issue-16 goal's run)
# Prints, per run, the load average before it, tokens/s (median step) and the process's CPU seconds.
set -u
A=$1; B=$2; PAIRS=$3; shift 3
ARGS=${*:-"--only e2e --quick --layers 30 --no-tfjs --no-ort --repeats 2"}
for i in $(seq 1 "$PAIRS"); do
  for side in A B; do
    tree=$A; [ "$side" = B ] && tree=$B
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date -u +%H:%M:%S)
    out=$( { cd "$tree" && TIMEFORMAT='cpu %U %S' && time ADAPTER_STUDIO_ICD=${ADAPTER_STUDIO_ICD:-lavapipe} npx tsx bench/run.ts $ARGS --out /tmp/ab-e2e-results; } 2>&1 )
    line=$(printf '%s\n' "$out" | grep -m1 'e2e | ' | sed 's/.*e2e | //')
    cpu=$(printf '%s\n' "$out" | grep '^cpu ' | awk '{printf "%.0f", $2 + $3}')
    echo "pair $i $side $start load [$load] | $line | cpu ${cpu}s"
  done
done
