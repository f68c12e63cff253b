"""Runs a benchmark script with its clock set to this process's CPU time (all its threads).

  python benchmarks/cpu_clock.py benchmarks/encoders.py --batch=64 --iters=5

The figures it prints then count per CPU-second instead of per second: on a machine shared
with other work they barely move with the load, where wall-clock figures drop with it. They
compare two stacks' efficiency, not their speed with the machine to themselves (work XLA
spreads over idle cores, or threads that spin while waiting, count here as CPU time).
"""

import runpy
import sys
import time

if __name__ == "__main__":
  if len(sys.argv) < 2:
    sys.exit("usage: python benchmarks/cpu_clock.py SCRIPT [ARGS...]")
  time.perf_counter = time.process_time
  sys.argv = sys.argv[1:]
  runpy.run_path(sys.argv[0], run_name="__main__")
