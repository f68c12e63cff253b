#!/usr/bin/env bash
# `make demo`: search -> discretize -> evaluate the searched cell -> report, on one game.
#
# The IMPALA-CNN baseline needs nothing from the search, so it trains alongside it at the
# lowest CPU priority (nice 19): it takes the cycles the search's phases leave idle (single-
# threaded Python, small XLA ops) and yields the cores whenever they want them, so the
# search -> searched-cell chain that the demo waits on is slowed little (on 2 cores the search
# took 16 % longer, the whole demo 12 % less: benchmarks/ARCHIVE.md). Its output goes to
# DEMO/baseline.log (appended to on a rerun); its remaining progress is shown when the chain
# is done.
#
#   PY=".venv/bin/python" DEMO=workdirs/demo CFG=experiments/ppo_procgen.py bash scripts/demo.sh
#
# PY may be a command with arguments ("env PYTHONPATH=. python"). Rerunning resumes every phase
# from its workdir (a finished phase says so and does nothing); Ctrl-C stops both runs.
set -euo pipefail

read -r -a py <<< "${PY:-.venv/bin/python}"
demo=${DEMO:-workdirs/demo}
cfg=${CFG:-experiments/ppo_procgen.py}
log="$demo/baseline.log"
mkdir -p "$demo"

say() { echo "[demo] $*"; }

nice -n 19 "${py[@]}" launch/evaluate.py --config="$cfg:baseline,demo" \
  --workdir="$demo/baseline" >> "$log" 2>&1 &
baseline=$!
# A failed phase or Ctrl-C ends the baseline too (a background job ignores SIGINT); a rerun
# resumes it.
trap 'kill "$baseline" 2> /dev/null || true' EXIT
say "the IMPALA-CNN baseline trains alongside at low priority; its output: $log"

# The baseline's exit status, once it has ended (`wait` gives it only once).
baseline_rc=""
finish_baseline() {
  if [ -z "$baseline_rc" ]; then
    baseline_rc=0
    wait "$baseline" || baseline_rc=$?
  fi
  if [ "$baseline_rc" != 0 ]; then
    say "the IMPALA-CNN baseline failed; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
}
# Between phases: a baseline that already failed fails the demo now, not at its end.
check_baseline() {
  if ! kill -0 "$baseline" 2> /dev/null; then finish_baseline; fi
}

"${py[@]}" launch/search.py --config="$cfg:search,demo" --workdir="$demo/search"
check_baseline
"${py[@]}" launch/discretize.py --workdir="$demo/search"
"${py[@]}" launch/evaluate.py --config="$cfg:evaluate,demo" \
  --config.encoder.genotype="$demo/search/genotype.json" --workdir="$demo/searched"

if kill -0 "$baseline" 2> /dev/null; then
  say "waiting for the IMPALA-CNN baseline ($log):"
  tail -n 1 -f --pid="$baseline" "$log"
else
  tail -n 1 "$log"
fi
finish_baseline
trap - EXIT

"${py[@]}" launch/report.py --out="$demo/report" --search="$demo/search" \
  --run=searched="$demo/searched" --run=impala="$demo/baseline"
say "finished: open $demo/report/report.md"
