#!/usr/bin/env bash
# The GPU check: every GPU figure from one command on the device machine, under 8 minutes.
#
#   benchmarks/device/check.sh [--dry-run] [--steps 1,2,3,4,5] [--budget SECONDS]
#
# Writes $OUT/<n>_<step>.json (rewritten after every row) and $OUT/check.log, in the order
# 1 tests, 2 throughput, 3 packing, 4 q1a_slice, 5 extra, each step under `timeout` (SIGINT
# first: Tune then stops its trials and returns, pytest prints its summary). The wheels in
# .whl/ (benchmarks/device/prepare.sh) are installed once into .site/, which a warm machine
# keeps between calls; the data is .devdata/ (else $TUNE_BENCH_DATA_DIR). --dry-run: the same
# orchestration on the CPU with tiny sizes (no wheels installed; tests/test_device_check.py).
# benchmarks/README.md has the exact device call.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD
DRY=""
STEPS="1,2,3,4,5"
BUDGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=--dry-run ;;
    --steps) STEPS=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    *) echo "check.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-/tmp/tune_bench_check}
mkdir -p "$OUT"
LOG=$OUT/check.log
START=$SECONDS
# per-step limits in seconds (index = step; 0 = whatever the budget has left)
if [ -n "$DRY" ]; then
  BUDGET=${BUDGET:-600}; LIMITS=(0 120 150 150 180 120)
else
  BUDGET=${BUDGET:-470}; LIMITS=(0 150 110 90 120 0)
fi
export PYTHONUNBUFFERED=1
PY=python3
SITE=""
if [ -z "$DRY" ] && [ -f .site/.installed ]; then
  SITE=yes
elif [ -z "$DRY" ] && ! $PY -c "import ray, thop, pydantic" 2>/dev/null \
    && ls .whl/*.whl >/dev/null 2>&1; then
  echo "installing $(ls .whl/*.whl | wc -l) wheels into .site" | tee -a "$LOG"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target .site .whl/*.whl >>"$LOG" 2>&1 && touch .site/.installed \
    || { echo "check.sh: installing .whl/*.whl failed (see $LOG)" | tee -a "$LOG"; exit 3; }
  SITE=yes
fi
if [ -n "$SITE" ]; then
  export PYTHONPATH="$REPO/.site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -z "$DRY" ] && [ -d .devdata/MNIST ]; then
  export TUNE_BENCH_DATA_DIR="$REPO/.devdata"
fi
{ date -u; nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; echo "data: ${TUNE_BENCH_DATA_DIR:-default}"
  echo "budget ${BUDGET}s, steps $STEPS ${DRY}"; } | tee -a "$LOG"

for n in 1 2 3 4 5; do
  case ",$STEPS," in *",$n,"*) ;; *) continue ;; esac
  left=$((BUDGET - (SECONDS - START) - 10))
  lim=${LIMITS[$n]}
  if [ "$lim" -eq 0 ] || [ "$lim" -gt "$left" ]; then lim=$left; fi
  if [ "$lim" -lt 20 ]; then
    $PY -m benchmarks.device.check finish "$n" --out "$OUT" --exit-code 0 $DRY \
      --skipped "no time left in the ${BUDGET} s budget" >>"$LOG" 2>&1
    echo "step $n: skipped, ${left} s left" | tee -a "$LOG"
    continue
  fi
  t0=$SECONDS
  echo "step $n: up to ${lim} s" | tee -a "$LOG"
  timeout -s INT -k 20 "$lim" $PY -m benchmarks.device.check "$n" --out "$OUT" $DRY 2>&1 \
    | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  $PY -m benchmarks.device.check finish "$n" --out "$OUT" --exit-code "$rc" \
    --wall-s $((SECONDS - t0)) $DRY >>"$LOG" 2>&1
  echo "step $n: exit $rc after $((SECONDS - t0)) s" | tee -a "$LOG"
done
echo "check.sh: done after $((SECONDS - START)) s; results in $OUT" | tee -a "$LOG"
