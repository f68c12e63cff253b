"""The shared loop: seeds, NaN handling, metrics/alpha bookkeeping, evaluation episodes."""

import json
import os
import threading
import time
import types
from typing import NamedTuple

import jax
import numpy as np
import pytest

from darts_rl import agents, parallel
from darts_rl.agents import base as agent_base
from darts_rl.agents import make_agent, ppo
from darts_rl.envs.base import DiscreteActions
from darts_rl.train import evaluation, loop, stepping
from darts_rl.train.actors import Actors, EpisodeLog
from experiments.ppo_procgen import get_config

TIMING = ("sps", "wall_s")


def _run(tmp_path, name, seed, overlap="off"):
  c = get_config("search,smoke")
  c.seed = seed
  c.loop.overlap = overlap
  w = str(tmp_path / name)
  loop.run(c, w, "search")
  with open(os.path.join(w, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [{k: v for k, v in r.items() if k not in TIMING} for r in rows], w


@pytest.mark.heavy
def test_same_seed_identical_two_seeds_differ(tmp_path, monkeypatch):
  # Actors and learner overlapped (loop.overlap): the policy lag is one iteration exactly, so
  # two runs of one seed are identical whatever the threads' timing. Seed 1 runs twice: on the
  # agent seed 0's run built (agents.reused_agent: one config but the seed, one process), then
  # on a fresh agent; a reused agent must give the fresh agent's run exactly.
  built = []
  monkeypatch.setattr(agents, "make_agent", lambda *a: built.append(1) or make_agent(*a))
  monkeypatch.setattr(agents, "_RECENT", type(agents._RECENT)())
  a, wa = _run(tmp_path, "a", 0, overlap="on")
  b, wb = _run(tmp_path, "b", 1, overlap="on")
  assert len(built) == 1  # seed 1 reused seed 0's agent
  agents._RECENT.clear()
  c, wc = _run(tmp_path, "c", 1, overlap="on")
  assert len(built) == 2
  assert b == c
  assert a != b
  assert all(r["actor/policy_lag_iterations"] == 1.0 for r in a[:-1])
  with np.load(os.path.join(wb, "alphas.npz")) as db, np.load(os.path.join(wc, "alphas.npz")) as dc:
    assert list(db["env_steps"]) == [0, 64, 128, 192, 256]
    np.testing.assert_array_equal(db["normal/node1"], dc["normal/node1"])
    assert db["normal/node1"].shape == (5, 2, 5)
    # The alphas moved away from their zero init during search.
    assert np.abs(db["normal/node1"][-1]).max() > 0
  # What tells agents apart: the config but its seed, the genotype, the envs, the devices.
  spec = agent_base.EnvSpec((8, 8, 3), DiscreteActions(3), 1, 1, np.zeros(1, np.int32), ("g",), 1)
  key = lambda c, genotype=None, s=spec: agents._agent_key(
    c, types.SimpleNamespace(genotype=genotype), s, parallel.Devices(1)
  )
  c0, c1 = get_config("search,smoke"), get_config("search,smoke")
  c1.seed = 5
  assert key(c0) == key(c1)
  c1.ppo.num_epochs = 2
  assert key(c0) != key(c1)
  assert key(c0) != key(c0, s=spec._replace(game_ids=np.ones(1, np.int32)))
  assert key(c0) != key(c0, genotype=types.SimpleNamespace(to_json=lambda: "{}"))


class _State(NamedTuple):
  learner: dict


def test_overlapped_episode_log_is_the_learned_rollouts_whatever_the_actor_thread_did():
  # The actor thread finishes rollout k + 1 (and its episodes) before the loop logs iteration k:
  # the log must still hold rollout k's episodes only.
  log = EpisodeLog()
  collected = []

  class Agent:
    def acting(self, learner):
      return learner

    def collect(self, state, actors, key):
      k = len(collected)
      log.add(np.array([[float(k), 10.0 + k, 0.0]]))
      collected.append(k)
      return k

    def learn(self, state, rollout, key):
      while len(collected) < rollout + 2 and rollout < 2:  # wait for the next collection
        time.sleep(0.001)
      return state, {"rollout": float(rollout)}

  actors = types.SimpleNamespace(episodes=log)
  devices = parallel.Devices()
  acting = stepping.Overlapped(Agent(), actors, devices)
  key, state = jax.random.PRNGKey(0), _State(learner=devices.replicate({"w": np.zeros(1)}))
  for k in range(3):
    key, state, m = acting.iteration(key, state, more=k < 2)
    assert m["rollout"] == k
    assert log.pop()["return"].tolist() == [float(k)]
  # close(then=...) runs `then` on the actor thread (DM-Control frees its EGL contexts only
  # on the thread that stepped the envs), once: a second close is a no-op.
  ran_on = []
  for _ in range(2):
    acting.close(then=lambda: ran_on.append(threading.current_thread().name))
  assert len(ran_on) == 1 and ran_on[0].startswith("actor")
  log.add(np.array([[5.0, 1.0, 0.0]]))
  assert log.pop()["return"].size == 0  # not settled yet


class _Learner(NamedTuple):
  params: dict
  opt_state: dict


@pytest.mark.parametrize("overlap", ["off", "on"])
@pytest.mark.parametrize("side", ["collect", "learn"])
def test_an_iteration_refuses_hidden_transfers(overlap, side):
  # The hot loop runs under jax.transfer_guard("disallow") on both threads: explicit copies
  # (Devices.put, jax.device_get) pass, a host array handed to a jax op fails.
  devices = parallel.Devices()
  double = devices.compile_local(lambda x: 2 * x)
  host = np.ones((devices.local_count, 1), np.float32)
  seen = []

  class Agent(agent_base.AgentBase):
    hidden = False

    def _step(self, name):
      if self.hidden and name == side:
        jax.numpy.sum(host)
      return jax.device_get(double(devices.put(host)))

    def collect(self, state, actors, key):
      seen.append(state.learner)
      return self._step("collect")

    def learn(self, state, rollout, key):
      self._step("learn")
      return state, {}

  agent = Agent()
  learner = devices.replicate(_Learner({"w": np.zeros(1)}, {"mu": np.zeros(1)}))
  state = agent_base.AgentState(learner, None)
  actors = types.SimpleNamespace(episodes=EpisodeLog())
  acting = stepping.make(agent, actors, devices, overlap)
  try:
    key, state, _ = acting.iteration(jax.random.PRNGKey(0), state, more=False)
    # An overlapped actor gets its own copy of what acting reads (agent.acting) only.
    assert (seen[0].opt_state is None) == (overlap == "on")
    agent.hidden = True
    with pytest.raises(Exception, match="Disallowed host-to-device transfer"):
      acting.iteration(key, state, more=False)
  finally:
    acting.close()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  calls = {"n": 0}
  orig = ppo.PPO.iteration

  def iteration(self, state, actors, key):
    state, m = orig(self, state, actors, key)
    calls["n"] += 1
    if calls["n"] == 3:
      m = dict(m, **{"loss/loss": float("nan")})
    return state, m

  monkeypatch.setattr(ppo.PPO, "iteration", iteration)
  c = get_config("search,smoke")
  c.loop.checkpoint_every_env_steps = 64
  w = tmp_path / "nan"
  with pytest.raises(loop.NaNLossError, match="non-finite loss/loss at env step 192"):
    loop.run(c, str(w), "search")
  assert sorted(os.listdir(w / "checkpoints")) == ["ckpt_128.msgpack", "ckpt_64.msgpack"]
  assert not (w / "DONE").exists()


def test_phase_and_encoder_must_agree():
  with pytest.raises(ValueError, match="search needs encoder.kind=supernet"):
    loop.check_phase(get_config("baseline,smoke"), "search")
  with pytest.raises(ValueError, match="evaluate trains a fixed encoder"):
    loop.check_phase(get_config("search,smoke"), "evaluate")


def test_random_policy_reference(tmp_path):
  c = get_config("baseline,smoke")
  out = loop.evaluate_random_policy(c, str(tmp_path / "r"))
  assert out["phase"] == "random_policy" and out["train_levels"]["episodes"] >= 4
  assert json.loads((tmp_path / "r" / "eval.json").read_text()) == json.loads(json.dumps(out))
  # Rerun: a no-op returning the same summary.
  assert loop.evaluate_random_policy(c, str(tmp_path / "r")) == json.loads(json.dumps(out))


class _CountingEnv:
  """Env i ends an episode every i + 2 steps with return i (one game)."""

  num_envs = 3
  observation_shape = (1, 1, 1)
  action_spec = DiscreteActions(2)
  game_ids = np.zeros(3, np.int32)
  game_names = ("g",)
  reward_scale = np.ones(1, np.float32)

  def __init__(self):
    self.t = np.zeros(3, int)

  def reset(self):
    self.t[:] = 0
    return np.zeros((3, 1, 1, 1), np.uint8)

  def close(self):
    pass

  def step_async(self, actions):
    assert actions.shape == (3,)

  def step_wait(self):
    self.t += 1
    done = self.t % (np.arange(3) + 2) == 0
    ret = np.where(done, np.arange(3.0), np.nan)
    return types.SimpleNamespace(
      obs=np.zeros((3, 1, 1, 1), np.uint8), episode_return=ret, episode_length=ret
    )


def test_evaluate_takes_each_envs_first_episodes_and_reports_a_cap():
  devices = parallel.Devices(1)
  actors = Actors(None, 0, "train", devices, make=lambda *a: _CountingEnv())
  policy = evaluation.RandomPolicy(DiscreteActions(2))
  summarize = lambda res: evaluation.summarize(res, actors, devices)
  res = summarize(actors.run_episodes(policy.eval_act, None, 6, jax.random.PRNGKey(0), 10**6))
  # quota 2 per env: env 0 (short episodes) is not over-counted.
  assert res["episodes"] == 6 and not res["capped"]
  assert res["mean_return"] == 1.0
  # Returns 0, 0, 1, 1, 2, 2: sample std (n-1) sqrt(4 / 5), standard error that / sqrt(6).
  assert res["std_return"] == pytest.approx((4 / 5) ** 0.5)
  assert res["stderr_return"] == pytest.approx((4 / 5) ** 0.5 / 6**0.5)
  # 3 envs x 4 steps: env 0 finished 2 episodes, env 1 one, env 2 one; quota 2 not met.
  res = summarize(actors.run_episodes(policy.eval_act, None, 6, jax.random.PRNGKey(0), 12))
  assert res["capped"] and res["episodes"] == 4


def test_evaluations_compile_their_step_once(monkeypatch):
  # Every split of an evaluation, and every later evaluation given the same cache (the loop
  # passes its training actors'), reuses one compiled step.
  devices = parallel.Devices(1)
  compiles = []
  compile_local = devices.compile_local
  monkeypatch.setattr(devices, "compile_local", lambda fn: compiles.append(fn) or compile_local(fn))
  counting = lambda env, seed, split, d, compiled: Actors(
    env, seed, split, d, make=lambda *a: _CountingEnv(), compiled=compiled
  )
  monkeypatch.setattr(evaluation, "Actors", counting)
  policy = evaluation.RandomPolicy(DiscreteActions(2))
  splits = ("train", "test", "validation")
  cache = {}
  for _ in range(2):
    out = evaluation.evaluate(
      get_config("baseline,smoke"), policy.eval_act, None, devices, jax.random.PRNGKey(0),
      splits, 6, 10**6, compiled=cache,
    )  # fmt: skip
    assert sorted(out) == sorted(splits) and out["test"]["episodes"] == 6
  assert len(compiles) == 1 and [k[0] for k in cache] == ["eval"]
  evaluation.evaluate(
    get_config("baseline,smoke"), policy.eval_act, None, devices, jax.random.PRNGKey(0),
    splits, 6, 10**6,
  )  # fmt: skip
  assert len(compiles) == 2  # without a cache: once for the three splits


def test_cadences_follow_the_budget_given_at_run_time():
  assert loop.cadence(0, 100, 25_000) == 250  # derived from the budget
  assert loop.cadence(64, 100, 25_000) == 64  # explicit wins
  assert loop.cadence(0, 100, 50) == 1  # at least every env step
  assert loop.cadence(0, 0, 1000) == 0  # never (only at the end)


def test_evaluation_computes_only_the_rows_that_owe_episodes(monkeypatch):
  # loop.eval_batch=1 on _CountingEnv (env i ends an episode every i + 2 steps), quota 1:
  # steps 1-2 act for all 3 envs (3 calls each), step 3 for envs 1 and 2, step 4 for env 2.
  devices = parallel.Devices(1)
  actors = Actors(None, 0, "train", devices, make=lambda *a: _CountingEnv())
  policy = evaluation.RandomPolicy(DiscreteActions(2))
  calls = []
  eval_fn = actors._eval_fn

  def counting(eval_act, rows):
    step = eval_fn(eval_act, rows)
    return lambda *args: calls.append(rows) or step(*args)

  monkeypatch.setattr(actors, "_eval_fn", counting)
  res = actors.run_episodes(policy.eval_act, None, 3, jax.random.PRNGKey(0), 10**6, 1)
  assert res["returns"] == [[0.0], [1.0], [2.0]] and res["env_steps"] == 12
  assert len(calls) == 3 + 3 + 2 + 1
  calls.clear()
  actors.run_episodes(policy.eval_act, None, 3, jax.random.PRNGKey(0), 10**6, 0)
  assert calls == [3] * 4  # 0: every row, one call per env step


def test_eval_batch_auto_and_bad_values():
  assert evaluation.eval_batch(0, 32) == (8 if jax.default_backend() == "cpu" else 32)
  assert evaluation.eval_batch(0, 4) == 4 or jax.default_backend() != "cpu"
  assert evaluation.eval_batch(5, 4) == 4 and evaluation.eval_batch(3, 32) == 3
  with pytest.raises(ValueError, match="loop.eval_batch=-1 must be 0"):
    evaluation.check_eval_batch(-1)
