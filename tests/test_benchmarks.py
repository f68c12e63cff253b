"""The benchmarks' plumbing on fakes, in seconds: flags, layouts, the warm-up rule of
`common.measure`, and e2e's table and ratios. No figure is checked (benchmarks are not tests)."""

import math
import os
import subprocess
import sys

import jax
import pytest

from benchmarks import common, e2e, scaling
from darts_rl.train.actors import EpisodeLog


class FakeActors:
  def __init__(self):
    self.rollouts = 0

  def rollout(self, *args):
    self.rollouts += 1

  episodes = EpisodeLog()


class FakeAgent:
  """Learns from its third iteration on (an off-policy agent filling its replay)."""

  env_steps_per_iteration = 10

  def __init__(self):
    self.calls = 0

  def iteration(self, state, actors, key):
    self.calls += 1
    actors.rollout()
    return state + 1, ({"loss": 1.0} if self.calls >= 3 else {})


def test_measure_warms_up_until_the_learner_ran_twice_then_times():
  from experiments.ppo_procgen import get_config

  bench = common.Bench(FakeAgent(), FakeActors(), 0, get_config("search,smoke"), None)
  m = common.measure(bench, jax.random.PRNGKey(0), min_iters=4, split=True)
  # Iterations 1-2 fill the replay, 3 learns (compiles), 4 is the extra warm-up one.
  assert m.warmup_iterations == 4 and m.iterations == 4 and bench.state == 8
  assert m.env_steps_per_s == pytest.approx(40 / m.seconds)
  assert m.compiles == 0 and m.rollout_s >= 0
  assert bench.actors.rollouts == 8 and "rollout" not in vars(bench.actors)  # clock removed


def test_e2e_flags_and_device_counts():
  args = e2e.parse_args(["--size=smoke", "--agents=ppo,sac", "--cpu_devices=2"])
  assert args.seconds == e2e.DEFAULT_SECONDS["smoke"] and args.cpu_devices == 2
  with pytest.raises(SystemExit):
    e2e.parse_args(["--agents=ppo,dqn"])
  assert e2e.device_counts("1,all", 4) == [1, 4]
  assert e2e.device_counts("1,all", 1) == [1]
  with pytest.raises(ValueError, match="--cpu_devices"):
    e2e.device_counts("8", 2)


def test_e2e_splits_sac_envs_over_devices_at_one_update_per_env_step():
  c = common.agent_config("sac", "pc4", "smoke")
  assert c.encoder.partial_channels == 4 and c.sac.learning_starts == 0
  e2e.fit_to_devices(c, 4)
  assert (c.env.num_envs, c.sac.updates_per_iteration) == (4, 4)
  assert c.sac.replay_capacity % 4 == 0
  assert e2e.overlaps(c) == ([None] if c.loop.get("overlap") is None else [False, True])


def _row(agent, encoder, devices, overlap, sps):
  return dict(
    agent=agent,
    encoder=encoder,
    encoder_name=common.encoder_name(agent, encoder),
    devices=devices,
    overlap=overlap,
    env_steps_per_s=sps,
    budget_env_steps=25e6,
    env="starpilot",
    envs=64,
    env_steps_per_iteration=64,
  )


def test_e2e_table_ratios_and_projections():
  rows = [
    _row("ppo", "baseline", 1, False, 100.0),
    _row("ppo", "baseline", 1, True, 150.0),
    _row("ppo", "supernet", 1, False, 25.0),
    _row("ppo", "supernet", 2, False, 40.0),
    _row("rainbow", "baseline", 1, None, 80.0),
  ]
  lines = e2e.results_table(rows).splitlines()
  cells = lambda i: [c.strip() for c in lines[i].strip("|").split("|")]
  assert cells(3)[:8] == ["ppo", "impala", "1", "on", "150.0", "1.000", "1.500", "1.000"]
  assert cells(4)[5:8] == ["0.250", "n/a", "1.000"]  # supernet / baseline
  assert cells(5)[5:8] == ["n/a", "n/a", "1.600"]  # no 2-device baseline row
  assert cells(6)[3] == "n/a" and cells(6)[6] == "n/a"  # no overlap key
  assert cells(2)[8].startswith("69h 26m")  # 25M / 100 env steps/s
  text = e2e.report({"machine": "fake", "size": "smoke", "rows": rows})
  assert "projections, not measurements" in text and "size smoke" in text


def test_scaling_layouts_and_table():
  assert scaling.parse_layout("4") == (1, 4) and scaling.parse_layout("2x2") == (2, 2)
  with pytest.raises(ValueError):
    scaling.parse_layout("0")
  done = dict(iterations=3, env_steps_per_iteration=2048, seconds=10.0)
  rows = [
    dict(layout="1", processes=1, devices=1, env_steps_per_s=100.0, **done),
    dict(layout="2x2", processes=2, devices=4, env_steps_per_s=150.0, **done),
    dict(layout="8", processes=1, devices=8),
  ]
  text = scaling.report(rows)
  assert "1.500" in text and "skipped" in text
  assert common.ratio(1.0, math.nan) == "n/a"


@pytest.mark.heavy
def test_gpu_script_runs_tiny_on_forced_cpu_devices():
  # The one-GPU script's every step at the smoke sizes (no figure is checked); SAC and
  # Rainbow cells are the e2e benchmark's, tested there.
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run(
    [sys.executable, os.path.join(root, "benchmarks", "gpu.py"), "--tiny", "--agents=ppo"],
    capture_output=True,
    text=True,
    timeout=900,
    cwd=root,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  text = out.stdout
  assert "cpu: 2 x" in text and "size smoke" in text
  assert "| impala " in text and "| supernet " in text  # the learner rows
  assert "| ppo    | off " in text and "| ppo    | on " in text
  assert "projected 25M-step PPO search: " in text


def test_cpu_clock_runs_the_script_with_the_process_clock(tmp_path):
  script = tmp_path / "bench.py"
  script.write_text(
    "import sys, time\nprint(time.perf_counter is time.process_time, sys.argv[1:], __name__)\n"
  )
  runner = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "cpu_clock.py")
  out = subprocess.run(
    [sys.executable, runner, str(script), "--iters=2"], capture_output=True, text=True
  )
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "True ['--iters=2'] __main__"
