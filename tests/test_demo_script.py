"""scripts/demo.sh (make demo): the phases' order, the baseline alongside, failures and Ctrl-C.

The phases themselves are tested elsewhere; here a stand-in for python records each call and
fails or lingers on demand, so the script's orchestration is checked in a second.
"""

import os
import signal
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Ceiling on every wait: the stand-ins finish in a second on an idle machine, but a busy CI
# machine (the other xdist worker compiling) can hold a process back for many seconds. A wait
# ends as soon as its condition holds; only a real hang runs into this.
WAIT_S = 300

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [[ "$*" == *baseline,demo* ]]; then echo $$ > "$BASELINE_PID"; fi
# The search starts once the baseline runs, so that failures find it running.
if [[ "$*" == *search.py* ]]; then
  for _ in $(seq 6000); do [ -s "$BASELINE_PID" ] && break; sleep 0.05; done
  # SEARCH_AFTER_BASELINE: the search ends only once the baseline's process has ended.
  if [ -n "${SEARCH_AFTER_BASELINE:-}" ]; then
    pid=$(cat "$BASELINE_PID")
    while [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat")" != Z ]; do sleep 0.05; done
  fi
fi
if [ -n "${FAIL_ON:-}" ] && [[ "$*" == *"$FAIL_ON"* ]]; then echo "boom: $*"; exit 3; fi
if [ -n "${HANG_ON:-}" ] && [[ "$*" == *"$HANG_ON"* ]]; then echo "$*" >> "$HUNG"; sleep 3600; fi
if [[ "$*" == *baseline,demo* ]]; then
  sleep "${BASELINE_S:-0}"
  # BASELINE_UNTIL: the baseline ends only once the demo printed that text.
  if [ -n "${BASELINE_UNTIL:-}" ]; then
    until grep -q "$BASELINE_UNTIL" "$OUT" 2> /dev/null; do sleep 0.05; done
  fi
  echo "[evaluate] done: baseline"
fi
"""


def demo_env(tmp_path, **env):
  fake = tmp_path / "fake_python"
  fake.write_text(FAKE_PYTHON)
  fake.chmod(0o755)
  return dict(
    os.environ,
    PY=str(fake),
    DEMO=str(tmp_path / "demo"),
    CALLS=str(tmp_path / "calls"),
    BASELINE_PID=str(tmp_path / "baseline_pid"),
    HUNG=str(tmp_path / "hung"),
    OUT=str(tmp_path / "stdout"),
    **env,
  )


def run_demo(tmp_path, timeout=WAIT_S, **env):
  """Runs the demo to its end; its stdout goes to a file (the stand-ins can wait on its lines)
  and comes back as `proc.stdout`."""
  calls, out = tmp_path / "calls", tmp_path / "stdout"
  with open(out, "w") as f:
    proc = subprocess.run(
      ["bash", "scripts/demo.sh"],
      cwd=ROOT,
      env=demo_env(tmp_path, **env),
      stdout=f,
      stderr=subprocess.PIPE,
      text=True,
      timeout=timeout,
      stdin=subprocess.DEVNULL,
    )
  proc.stdout = out.read_text()
  lines = calls.read_text().splitlines() if calls.exists() else []
  return proc, [line.split()[0] + ":" + _variant(line) for line in lines]


def _variant(line):
  for part in line.split():
    if part.startswith("--config="):
      return part.split(":")[-1]
  return ""


def _alive(pid: int) -> bool:
  try:
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not running
      return f.read().split()[2] != "Z"
  except FileNotFoundError:
    return False


def _wait_gone(pid: int, seconds: float = WAIT_S) -> bool:
  deadline = time.monotonic() + seconds
  while _alive(pid) and time.monotonic() < deadline:
    time.sleep(0.05)
  return not _alive(pid)


def test_every_phase_runs_and_the_report_waits_for_the_baseline(tmp_path):
  proc, calls = run_demo(tmp_path, BASELINE_UNTIL="waiting for the IMPALA-CNN baseline")
  assert proc.returncode == 0, proc.stderr
  # The baseline starts first; its record may land after the search's (they run together).
  assert "launch/evaluate.py:baseline,demo" in calls[:2]
  assert [c for c in calls if c != "launch/evaluate.py:baseline,demo"] == [
    "launch/search.py:search,demo",
    "launch/discretize.py:",
    "launch/evaluate.py:evaluate,demo",
    "launch/report.py:",
  ]
  out = proc.stdout
  assert "waiting for the IMPALA-CNN baseline" in out
  # The baseline's last line is shown before the report runs; its output is in the log.
  assert out.index("[evaluate] done: baseline") < out.index("[demo] finished")
  assert "[evaluate] done: baseline" in (tmp_path / "demo" / "baseline.log").read_text()


def test_a_baseline_done_before_the_search_ends(tmp_path):
  proc, calls = run_demo(tmp_path, SEARCH_AFTER_BASELINE="1")
  assert proc.returncode == 0, proc.stderr
  assert calls[-1] == "launch/report.py:" and len(calls) == 5
  assert "waiting" not in proc.stdout
  assert proc.stdout.index("[evaluate] done: baseline") < proc.stdout.index("[demo] finished")


def test_a_failed_baseline_fails_the_demo_before_the_report(tmp_path):
  proc, calls = run_demo(tmp_path, FAIL_ON="baseline,demo")
  assert proc.returncode == 1
  assert "the IMPALA-CNN baseline failed" in proc.stderr
  assert "boom" in proc.stderr  # the end of its log
  assert "launch/report.py:" not in calls


def test_a_baseline_that_fails_early_fails_the_demo_after_the_search(tmp_path):
  """A misconfigured baseline fails in seconds: the demo stops after the search, not after the
  searched cell's retraining."""
  proc, calls = run_demo(tmp_path, FAIL_ON="baseline,demo", SEARCH_AFTER_BASELINE="1")
  assert proc.returncode == 1
  assert "the IMPALA-CNN baseline failed" in proc.stderr
  assert sorted(calls) == ["launch/evaluate.py:baseline,demo", "launch/search.py:search,demo"]


def test_a_failed_search_stops_the_baseline(tmp_path):
  # The baseline would take an hour: the demo returning at all shows it did not wait for it.
  proc, calls = run_demo(tmp_path, FAIL_ON="search.py", BASELINE_S="3600")
  assert proc.returncode == 3
  assert sorted(calls) == ["launch/evaluate.py:baseline,demo", "launch/search.py:search,demo"]
  assert _wait_gone(int((tmp_path / "baseline_pid").read_text()))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_demo_stops_the_baseline(tmp_path, sig):
  """Ctrl-C (SIGINT to the terminal's process group) or a group kill during the search: the
  demo exits non-zero and the baseline, which ignores SIGINT as a background job, is stopped."""
  hung = tmp_path / "hung"
  proc = subprocess.Popen(
    ["bash", "scripts/demo.sh"],
    cwd=ROOT,
    env=demo_env(tmp_path, HANG_ON="search.py", BASELINE_S="3600"),
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    start_new_session=True,
  )
  try:
    deadline = time.monotonic() + WAIT_S
    # The fake search hangs only once the baseline wrote its pid: both are running.
    while not (hung.exists() and "search.py" in hung.read_text()):
      assert time.monotonic() < deadline, "the demo's search did not start"
      time.sleep(0.05)
    os.killpg(proc.pid, sig)
    assert proc.wait(timeout=WAIT_S) != 0
    assert _wait_gone(int((tmp_path / "baseline_pid").read_text()))
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
