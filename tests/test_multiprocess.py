"""Several processes train one model: 2 real processes x 2 CPU devices (jax.distributed on
localhost, gloo collectives) against 1 process x 4 devices, for PPO, Rainbow and SAC smoke
searches; and a process that dies makes the other stop with one error line.

Equality: metrics, episode returns and evaluations are the same; params and alphas agree to
float32 summation order (a cross-process all-reduce adds in another order than an in-process
one: ~1e-7 relative), so they are compared at a tight tolerance. Process 1 writes nothing.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess

import jax
import numpy as np
import pytest
from flax import serialization

from darts_rl import distributed
from tests.conftest import SMOKE_SEARCHES, free_port, start_run, two_process_flags
from tests.launch_process import LAUNCH_S

AGENTS = ("ppo", "rainbow", "sac")
TIMING = ("sps", "wall_s")


def rows(path):
  with open(path) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def approx_tree(x):
  """x with its floats compared at a tolerance (cross-process all-reduce order: see above)."""
  if isinstance(x, dict):
    return {k: approx_tree(v) for k, v in x.items()}
  if isinstance(x, list):
    return [approx_tree(v) for v in x]
  return pytest.approx(x, rel=1e-4, abs=1e-6) if isinstance(x, float) else x


def approx_rows(expected):
  return [approx_tree(r) for r in expected]


def checkpoint(workdir):
  d = os.path.join(workdir, "checkpoints")
  last = max(os.listdir(d), key=lambda n: int(n[5:-8]))
  with open(os.path.join(d, last), "rb") as f:
    return last, serialization.msgpack_restore(f.read())


def assert_same_training(a: pathlib.Path, b: pathlib.Path):
  """Workdirs a and b hold the same training: metrics, evaluation, last checkpoint, alphas."""
  assert rows(a / "metrics.jsonl") == approx_rows(rows(b / "metrics.jsonl"))
  # SAC's continuous actions carry the params' rounding into the returns.
  assert json.loads((a / "eval.json").read_text()) == approx_tree(
    json.loads((b / "eval.json").read_text())
  )
  name_a, ckpt_a = checkpoint(a)
  name_b, ckpt_b = checkpoint(b)
  assert name_a == name_b
  leaves_a, leaves_b = jax.tree.leaves(ckpt_a), jax.tree.leaves(ckpt_b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):  # Adam steps carry the rounding along: ~1e-6
    np.testing.assert_allclose(
      np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-4, atol=1e-5
    )
  with np.load(a / "alphas.npz") as da, np.load(b / "alphas.npz") as db:
    assert sorted(da.files) == sorted(db.files)
    for k in da.files:
      if da[k].dtype.kind == "f":
        np.testing.assert_allclose(da[k], db[k], rtol=1e-5, atol=1e-6, err_msg=k)
  assert sorted(os.listdir(a)) == sorted(os.listdir(b))


@SMOKE_SEARCHES
@pytest.mark.parametrize("agent", AGENTS)
def test_two_processes_train_the_model_one_process_trains(smoke_searches, agent):
  one, two, two_p1 = map(pathlib.Path, smoke_searches[:3])
  assert_same_training(one / agent, two / agent)
  # Exactly one copy of every file: process 1 wrote nothing, not even its workdir.
  assert not two_p1.exists()


@SMOKE_SEARCHES
def test_a_killed_two_process_run_resumes_as_one_process_resumes_it(smoke_searches, tmp_path):
  """The PPO smoke search on 2 processes x 2 devices, its training process 0 SIGKILLed when
  about to write its second checkpoint (process 1 then stops with one line), is rerun with
  the same command: it resumes from the first checkpoint and finishes. Its rows up to that
  checkpoint are those of the uninterrupted 2 x 2 run (smoke_searches); from there it equals
  the same checkpoint resumed by 1 process x 4 devices. Not the uninterrupted run past the
  checkpoint: a resumed run starts new episodes (its envs seeded by the checkpoint's step), by
  design. The programs are those the smoke searches compiled (the persistent cache)."""
  killed, p1 = tmp_path / "two", tmp_path / "two_p1"

  def run_two(*extra):
    port = free_port()
    flags = ("--agents=ppo", "--peer_timeout_s=5", *extra)
    procs = [start_run(w, *two_process_flags(r, port, *flags)) for r, w in ((0, killed), (1, p1))]
    return [(p, *p.communicate(timeout=LAUNCH_S)) for p in procs]

  (p0, _, err0), (q1, _, err1) = run_two("--kill_at_second_checkpoint")
  assert p0.returncode == 1 and q1.returncode == 1, err0[-2000:] + err1[-2000:]
  run = killed / "ppo"
  assert os.listdir(run / "checkpoints") == ["ckpt_128.msgpack"] and not (run / "DONE").exists()
  uninterrupted = pathlib.Path(smoke_searches.two) / "ppo"
  cut = lambda r: [x for x in r if x["env_steps"] <= 128]
  assert cut(rows(run / "metrics.jsonl")) == approx_rows(cut(rows(uninterrupted / "metrics.jsonl")))
  alone = tmp_path / "one"
  shutil.copytree(killed, alone)
  one = start_run(alone, "--agents=ppo", "--cpu_devices=4")
  out, err = one.communicate(timeout=LAUNCH_S)
  assert one.returncode == 0, err[-2000:]
  assert "resuming" in out and "from env step 128" in out
  (p0, out0, err0), (q1, _, err1) = run_two()
  assert p0.returncode == 0 and q1.returncode == 0, err0[-2000:] + err1[-2000:]
  assert f"[search] resuming {run} from env step 128" in out0
  assert (run / "DONE").exists() and not p1.exists()
  assert_same_training(alone / "ppo", run)


@SMOKE_SEARCHES
def test_only_process_zero_prints_progress(smoke_searches):
  _, (out0, err0), (out1, err1) = smoke_searches.outputs
  assert "[process 1 of 2] connected" in err1
  assert "[search] done" in out0 and "[search]" not in out1
  assert "error" not in err0 + err1


def _child(p: subprocess.Popen) -> int:
  """The pid of the supervised child a multi-process launcher started."""
  with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
    return int(f.read().split()[0])


def _one_error_line(p: subprocess.Popen, err: str) -> str:
  lines = [line for line in err.splitlines() if line.strip() and "connected" not in line]
  assert p.returncode == 1, err[-2000:]
  assert len(lines) == 1, err[-2000:]
  return lines[0]


# (which process fails, how, what the other says): a killed process, a hung one (stopped:
# its sockets stay open, but its heartbeats stop), and process 0, which hosts the coordinator.
FAILURES = [
  (1, "kill", "error: process 0: process 1 stopped responding"),
  (1, "stop", "error: process 0: process 1 stopped responding"),
  (0, "kill", "error: process 1: lost the coordinator"),
]


@pytest.mark.heavy
@pytest.mark.parametrize("failing, how, message", FAILURES)
def test_a_dead_or_hung_process_stops_the_other_with_one_line(tmp_path, failing, how, message):
  port = free_port()
  long = ("--agents=ppo", "--total_env_steps=100000", "--peer_timeout_s=5")
  procs = [
    start_run(tmp_path / f"w{r}", *two_process_flags(r, port, *long), stdout=subprocess.DEVNULL)
    for r in (0, 1)
  ]
  bad, other = procs[failing], procs[1 - failing]
  try:
    # Wait until the failing process joined the run (a line, however long it takes), then
    # kill its supervisor (and with it its child) or stop its child (a stopped supervisor
    # would not stop the child).
    seen = []
    for line in bad.stderr:
      seen.append(line)
      if "connected" in line:
        break
    else:
      pytest.fail(f"process {failing} ended without joining the run:\n" + "".join(seen)[-2000:])
    if how == "kill":
      bad.send_signal(signal.SIGKILL)
    else:
      os.kill(_child(bad), signal.SIGSTOP)
    # A ceiling on the wait, not a speed check (the run itself would take far longer).
    _, err = other.communicate(timeout=LAUNCH_S)
  finally:
    for p in procs:
      if p.poll() is None:
        if how == "stop":
          os.kill(_child(p), signal.SIGKILL)
        p.kill()
      p.communicate()
  line = _one_error_line(other, err)
  assert line.startswith(message)
  # The runtime's own lines are in a file the line names (start_run puts such files beside
  # the test's workdirs, not in the machine's /tmp).
  log = line.split("(runtime messages: ")[1].rstrip(")")
  assert log.startswith(str(tmp_path)) and os.path.isfile(log), line


def test_run_difference_names_config_keys_with_both_values_then_source_files():
  run = lambda config, code: {"config": config, "code": code}
  base = run({"seed": 0, "ppo": {"lr": 1.0, "clip": 0.2}}, {"a.py": "1", "b.py": "2"})
  assert distributed.run_difference(base, base) is None
  other = run({"seed": 1, "ppo": {"lr": 2.0, "clip": 0.2}}, {"a.py": "9", "b.py": "2"})
  assert distributed.run_difference(other, base) == (
    "another config: ppo.lr=2.0 (process 0: 1.0), seed=1 (process 0: 0)"
  )
  other = run(base["config"], {"a.py": "9", "c.py": "3"})
  assert distributed.run_difference(other, base) == (
    "other darts_rl sources: a.py, b.py, c.py differ"
  )
  assert len(distributed.source_digests()) > 10


def test_processes_given_different_configs_refuse_with_one_line(tmp_path):
  # Process 0 has 3 devices and uses 2 (--local_devices), process 1 has 2: the host
  # collectives that compare the configs run over the run's devices, whatever each host has.
  port = free_port()
  extras = (("--cpu_devices=3", "--local_devices=2"), ("--total_env_steps=128",))
  procs = [
    start_run(tmp_path / f"w{r}", *two_process_flags(r, port, "--agents=ppo", *extra))
    for r, extra in enumerate(extras)
  ]
  outs = [p.communicate(timeout=LAUNCH_S) for p in procs]
  for p, (_, err) in zip(procs, outs):
    line = _one_error_line(p, err)
    assert line.startswith(
      "error: process 1 runs another config: loop.total_env_steps=128 (process 0: 256)"
    ), line
  assert not (tmp_path / "w0" / "ppo").exists()  # refused before claiming a workdir
