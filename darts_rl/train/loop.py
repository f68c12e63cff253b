"""The shared outer loop of every phase and agent: schedule, logging, checkpoint/resume, eval.

    run(config, workdir, phase, devices=None) -> eval summary

`search` trains an agent whose encoder is a supernet (alphas trained too, their history in
alphas.npz); `evaluate` retrains a fixed encoder from scratch. Both end with an evaluation
written to eval.json. A killed run resumes from its latest checkpoint when rerun with the same
command; a finished run is a no-op.

One loop for every process of a run: each steps its own env groups (one per local device),
the learner steps are mapped over all processes' devices, the budget and every cadence count
the run's env steps (all processes together), and process 0 alone reads and writes the
workdir (the others get what it read by broadcast).
"""

import math
import os
import time
from typing import Dict, List, Optional, Tuple

import jax
import ml_collections
import numpy as np

from darts_rl import artifacts, distributed, envs, formatting, parallel
from darts_rl.agents import base as agent_base
from darts_rl.agents import reused_agent
from darts_rl.networks import make_encoder
from darts_rl.train import evaluation, stepping
from darts_rl.train.actors import Actors
from darts_rl.train.checkpoint import Checkpointer

PHASES = ("search", "evaluate")
RANDOM_POLICY = "random_policy"  # phase name of evaluate_random_policy's workdirs
SPLIT_NAMES = artifacts.SPLIT_KEYS


class NaNLossError(FloatingPointError):
  """Training produced a non-finite loss; the last good checkpoint is kept."""


def check_phase(config, phase: str):
  """A phase the loop runs, with an encoder kind that fits it; else one clear ValueError."""
  if phase not in PHASES:
    raise ValueError(f"unknown phase '{phase}'; valid phases: {', '.join(PHASES)}")
  kind = config.encoder.kind
  if phase == "search" and kind != "supernet":
    raise ValueError(
      f"search needs encoder.kind=supernet, got '{kind}' "
      "(use launch/evaluate.py for fixed and baseline encoders)"
    )
  if phase == "evaluate" and kind == "supernet":
    raise ValueError(
      "evaluate trains a fixed encoder: use encoder.kind=fixed with a genotype, "
      "or a baseline (impala, cnn4)"
    )


def cadence(every: int, count: int, total: int) -> int:
  """Env steps between two events: `every` if set (> 0), else the budget / `count` (at least
  1), computed when the run starts so a command-line budget moves the cadence with it.
  0 with count 0: never (only at the end)."""
  if every > 0:
    return int(every)
  return max(1, int(total) // int(count)) if count > 0 else 0


class _Pending:
  """Metrics of the iterations since the last log step, still on the devices."""

  def __init__(self):
    self.rows: List[Tuple[int, Dict]] = []
    self.synced: List[Tuple[int, Dict[str, float]]] = []

  def add(self, env_steps: int, metrics: Dict):
    self.rows.append((env_steps, metrics))

  def sync(self, ckpt_dir: str):
    """Brings the pending metrics to the host (one transfer) and stops the run at the first
    non-finite value, before anything computed from it is saved."""
    host = jax.device_get([m for _, m in self.rows])
    for (env_steps, _), m in zip(self.rows, host):
      row = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in m.items()}
      bad = [k for k, v in row.items() if not math.isfinite(v)]
      if bad:
        raise NaNLossError(
          f"non-finite {', '.join(bad[:3])} at env step {env_steps}; "
          f"stopped. The last good checkpoint is kept in {ckpt_dir}"
        )
      self.synced.append((env_steps, row))
    self.rows = []

  def pop_means(self) -> Dict[str, float]:
    """Each metric's mean over the synced iterations that reported it."""
    keys = dict.fromkeys(k for _, m in self.synced for k in m)
    out = {k: float(np.mean([m[k] for _, m in self.synced if k in m])) for k in keys}
    self.synced = []
    return out


def _episode_scalars(eps: Dict[str, np.ndarray], game_names) -> Dict[str, float]:
  out = {"train/episodes": float(eps["return"].size)}
  if eps["return"].size:
    out["train/return"] = float(eps["return"].mean())
    out["train/length"] = float(eps["length"].mean())
    if len(game_names) > 1:
      for g, name in enumerate(game_names):
        sel = eps["game_id"] == g
        if sel.any():
          out[f"train/return/{name}"] = float(eps["return"][sel].mean())
  return out


def _gather_episodes(eps: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """Every process's finished episodes (a collective: all processes call it together)."""
  return {
    "return": parallel.allgather_ragged(eps["return"]).astype(np.float32),
    "length": parallel.allgather_ragged(eps["length"]).astype(np.float32),
    "game_id": parallel.allgather_ragged(eps["game_id"]).astype(np.int32),
  }


def run(config, workdir: str, phase: str, devices: Optional[parallel.Devices] = None) -> Dict:
  """Trains config.agent with config.encoder for config.loop.total_env_steps env steps (all
  envs of the run), then evaluates; returns eval.json's content (the same on every process).

  phase: 'search' (a supernet; its alphas logged to alphas.npz) or 'evaluate' (a fixed
  encoder). A finished workdir is a no-op returning its eval.json; a killed one resumes from
  its latest checkpoint. devices: the layout (default: every local device of every process).
  Raises ValueError (one line) for a bad config or a workdir of another phase or config,
  NaNLossError when a metric turns non-finite (the last good checkpoint stays).
  """
  config = envs.with_task_defaults(config)
  check_phase(config, phase)
  devices = devices or parallel.Devices()
  distributed.check_same_run(config)
  writer_proc = devices.is_writer
  # The encoder and envs first: a bad config or genotype fails before the workdir is claimed.
  encoder = make_encoder(config.encoder, artifacts.encoder_genotype(config.encoder), config.arch)
  envs.check_config(config.env, ("train",) + tuple(config.loop.eval_splits), devices.count)
  evaluation.check_eval_batch(config.loop.eval_batch)
  if parallel.on_writer(lambda: artifacts.claim(workdir, phase, config)):
    if writer_proc:
      print(f"[{phase}] {workdir} already finished; nothing to do.", flush=True)
    return parallel.on_writer(lambda: artifacts.read_eval(workdir))
  lc = config.loop
  if encoder.genotype is not None and writer_proc:
    note = config.encoder.genotype and artifacts.transfer_note(config.encoder.genotype, config.env)
    if note:  # allowed (a transfer study does it), but never silently
      print(f"[{phase}] transfer: the cell was {note}", flush=True)
    print(f"[{phase}] encoder: {encoder.genotype.describe()}", flush=True)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
  actors = Actors(
    config.env, config.seed + (parallel.on_writer(ckpt.latest_step) or 0), "train", devices
  )
  acting = None
  try:
    agent = reused_agent(config, encoder, actors.spec, devices)
    actors.compiled = agent.compiled_acting
    resume_step, state, key, env_steps = _restore(config, agent, ckpt)
    resumed = resume_step is not None
    if resumed:  # the arch schedules re-planned on the updates still to come
      state = agent.resumed(state, env_steps)
    if resumed and writer_proc:
      print(f"[{phase}] resuming {workdir} from env step {env_steps}", flush=True)
    state = agent_base.to_devices(state, devices)
    space = encoder.space if phase == "search" else None
    writer = alphas_log = progress = None
    wall0 = time.time()
    if writer_proc:
      writer = artifacts.MetricsWriter(
        workdir,
        env_steps if resumed else 0,
        tensorboard=lc.tensorboard,
        wandb=artifacts.wandb_settings(config, workdir, phase),
      )
      if space is not None:
        alphas_log = artifacts.AlphasWriter(
          workdir,
          getattr(space, "op_names", None),
          config.encoder.temperature,
          env_steps if resumed else 0,
        )
        if not alphas_log.steps:
          alphas_log.add(env_steps, _alphas(state, devices))
      progress = formatting.Progress(phase, int(lc.total_env_steps), env_steps)
      # Training wall time carries over a resume (from the last kept metrics row).
      if writer.history:
        wall0 -= writer.history[-1].get("wall_s") or 0.0
    total = int(lc.total_env_steps)
    log_every = cadence(lc.log_every_env_steps, lc.num_logs, total)
    ckpt_every = cadence(lc.checkpoint_every_env_steps, lc.num_checkpoints, total)
    eval_every = cadence(lc.eval_every_env_steps, 0, total)
    per_iter = agent.env_steps_per_iteration
    pending = _Pending()
    t_log, steps_log = time.time(), env_steps
    overlap = lc.overlap
    acting = stepping.make(agent, actors, devices, overlap)
    if writer_proc:  # what the `auto` options chose here
      mode = "on" if isinstance(acting, stepping.Overlapped) else "off"
      chosen = {"loop.overlap": f"auto -> {mode}" if overlap == "auto" else mode}
      chosen.update(agent.resolved_options())
      if not lc.eval_batch:
        chosen["loop.eval_batch"] = f"auto -> {evaluation.eval_batch(0, actors.n)}"
      print(f"[{phase}] " + ", ".join(f"{k} {v}" for k, v in chosen.items()), flush=True)
    while env_steps < total:
      key, state, m = acting.iteration(key, state, more=env_steps + per_iter < total)
      env_steps += per_iter
      pending.add(env_steps, m)
      crossed = lambda every: every > 0 and env_steps // every > (env_steps - per_iter) // every
      last = env_steps >= total
      log, save = crossed(log_every) or last, crossed(ckpt_every) or last
      if log or save:
        pending.sync(ckpt.directory)
      if log:
        scalars = pending.pop_means()
        scalars.update(agent.log_scalars(state))
        scalars.update(
          _episode_scalars(_gather_episodes(actors.episodes.pop()), actors.spec.game_names)
        )
        if crossed(eval_every) and not last:
          key, ek = jax.random.split(key)
          scalars.update(_quick_eval(config, agent, state, devices, ek, actors.compiled))
        if space is not None:
          alphas = _alphas(state, devices)
          scalars.update(
            {
              f"alpha/{k}": v
              for k, v in space.mixing_summary(alphas, config.encoder.temperature).items()
            }
          )
          scalars.update(agent.opt.summary(alphas, state.learner.arch_opt_state))
        if writer_proc:
          now = time.time()
          scalars["sps"] = (env_steps - steps_log) / max(now - t_log, 1e-9)
          scalars["wall_s"] = now - wall0
          t_log, steps_log = now, env_steps
          if alphas_log is not None:
            alphas_log.add(env_steps, alphas)
          writer.write(env_steps, scalars)
          progress.print(env_steps, scalars)
      if save:
        saved = {
          "agent": agent_base.to_host(state, devices),
          "key": np.asarray(key),
          "env_steps": np.int64(env_steps),
        }
        if writer_proc:
          ckpt.save(env_steps, saved)
    acting.close(then=actors.close)  # the envs are closed on the thread that stepped them
    key, ek = jax.random.split(key)
    final = evaluation.evaluate(
      config,
      agent.eval_act,
      agent.acting(state.learner),
      devices,
      ek,
      lc.eval_splits,
      lc.eval_episodes,
      lc.eval_max_env_steps,
      compiled=actors.compiled,
    )
    head = dict(phase=phase, encoder=config.encoder.kind, env_steps=env_steps, seed=config.seed)
    if encoder.genotype is not None:  # the network actually built, shape included
      head["genotype"] = encoder.genotype.to_dict()
    summary, desc = _eval_summary(final, lc.eval_splits, **head)
    if writer_proc:
      artifacts.write_eval(workdir, summary)
      final_row = {f"eval/{SPLIT_NAMES[s]}/return": final[s]["mean_return"] for s in lc.eval_splits}
      writer.write(env_steps, dict(final_row, wall_s=time.time() - wall0))
      writer.close()
      artifacts.mark_done(workdir, {"env_steps": env_steps})
      print(
        f"[{phase}] done: {env_steps} env steps; eval return {desc}; wrote "
        f"{artifacts.eval_path(workdir)}",
        flush=True,
      )
    return summary
  finally:
    if acting is not None:
      acting.close(then=actors.close)
    actors.close()


def _alphas(state, devices):
  return devices.unreplicate(state.learner.alphas)


def _quick_eval(config, agent, state, devices, key, compiled=None) -> Dict[str, float]:
  """The learning curve's evaluations (loop.eval_every_env_steps): the train and test splits
  only; validation is for selecting among finished runs. compiled: the training actors'
  compiled steps (the evaluation step is compiled once per run)."""
  lc = config.loop
  splits = [s for s in lc.eval_splits if SPLIT_NAMES[s] != artifacts.VALIDATION]
  res = evaluation.evaluate(
    config,
    agent.eval_act,
    agent.acting(state.learner),
    devices,
    key,
    splits,
    lc.eval_episodes,
    lc.eval_max_env_steps,
    compiled=compiled,
  )
  return {f"eval/{SPLIT_NAMES[s]}/return": res[s]["mean_return"] for s in splits}


def _restore(config, agent, ckpt: Checkpointer):
  """(checkpoint step or None, AgentState on the host, key, env steps): the latest checkpoint
  (process 0's, broadcast), else a fresh state."""
  key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
  fresh = agent.init(init_key)
  template = {
    "agent": {"learner": fresh.learner, "host": fresh.host},
    "key": np.asarray(key),
    "env_steps": np.int64(0),
  }
  step, saved = ckpt.restore(template)
  state = agent_base.AgentState(saved["agent"]["learner"], saved["agent"]["host"], None)
  return step, state, jax.numpy.asarray(saved["key"]), int(saved["env_steps"])


def _eval_summary(final: Dict, splits, **head) -> Tuple[Dict, str]:
  """(eval.json's content: `head` plus each split's results, a one-line description)."""
  summary = dict(head, **{SPLIT_NAMES[s]: final[s] for s in splits})
  desc = ", ".join(
    f"{SPLIT_NAMES[s]} {final[s]['mean_return']:.3g} ± {final[s]['std_return']:.2g}"
    + (
      f" (only {final[s]['episodes']} episodes: loop.eval_max_env_steps reached)"
      if final[s].get("capped")
      else ""
    )
    for s in splits
  )
  return summary, desc


def evaluate_random_policy(
  config, workdir: str, devices: Optional[parallel.Devices] = None
) -> Dict:
  """eval.json of a uniform random policy on the config's envs, measured like a trained one."""
  devices = devices or parallel.Devices()
  evaluation.check_eval_batch(config.loop.eval_batch)
  if parallel.on_writer(lambda: artifacts.claim(workdir, RANDOM_POLICY, config)):
    if devices.is_writer:
      print(f"[{RANDOM_POLICY}] {workdir} already finished; nothing to do.", flush=True)
    return parallel.on_writer(lambda: artifacts.read_eval(workdir))
  lc = config.loop
  actors = Actors(config.env, config.seed, "train", devices)
  policy = evaluation.RandomPolicy(actors.spec.action_spec)
  actors.close()
  final = evaluation.evaluate(
    config,
    policy.eval_act,
    None,
    devices,
    jax.random.PRNGKey(config.seed),
    lc.eval_splits,
    lc.eval_episodes,
    lc.eval_max_env_steps,
  )
  summary, desc = _eval_summary(
    final,
    lc.eval_splits,
    phase=RANDOM_POLICY,
    encoder="none (uniform random actions)",
    env_steps=0,
    seed=config.seed,
  )
  if devices.is_writer:
    artifacts.write_eval(workdir, summary)
    artifacts.mark_done(workdir)
    print(f"[{RANDOM_POLICY}] eval return {desc}; wrote {artifacts.eval_path(workdir)}", flush=True)
  return summary


def reevaluate(
  workdir: str, episodes: int, devices: Optional[parallel.Devices] = None, seed_offset: int = 0
) -> Dict:
  """Evaluates a finished run's final policy again, with `episodes` episodes per split.

  For a tighter estimate than the run's own evaluation. Works on search, evaluate and
  random_policy workdirs; writes WORKDIR/eval_<episodes>.json (eval.json's layout plus
  "episodes") and changes nothing else. The run's cap on evaluation env steps
  (loop.eval_max_env_steps) is scaled by episodes / loop.eval_episodes.
  seed_offset K >= 1: a fresh evaluation, on eval envs and keys no evaluation with another K
  used (the number reported for a run picked by best-of-N selection), written to
  eval_<episodes>_offset<K>.json.
  """
  if episodes < 1 or seed_offset < 0:
    raise ValueError(
      f"--episodes must be >= 1 and --seed_offset >= 0, got {episodes} and {seed_offset}"
    )
  devices = devices or parallel.Devices()

  def read():
    artifacts.require_done(workdir)
    return {
      "phase": artifacts.phase(workdir),
      "config": artifacts.config_to_dict(artifacts.load_config(workdir)),
    }

  head = parallel.on_writer(read)
  phase = head["phase"]
  config = ml_collections.ConfigDict(head["config"])
  # The run's safety cap on evaluation length was sized for its own episode count: scale it.
  lc = config.loop
  cap = max(lc.eval_max_env_steps, -(-lc.eval_max_env_steps * episodes // lc.eval_episodes))
  actors = Actors(config.env, config.seed, "train", devices)
  try:
    if phase == RANDOM_POLICY:
      policy, learner, env_steps = evaluation.RandomPolicy(actors.spec.action_spec), None, 0
      eval_act, compiled = policy.eval_act, {}
    else:
      encoder = make_encoder(
        config.encoder, artifacts.encoder_genotype(config.encoder), config.arch
      )
      agent = reused_agent(config, encoder, actors.spec, devices)
      step, state, _, env_steps = _restore(
        config, agent, Checkpointer(os.path.join(workdir, "checkpoints"))
      )
      if step is None:
        raise artifacts.ArtifactError(f"{workdir} has no checkpoint to evaluate")
      learner, eval_act = devices.replicate(agent.acting(state.learner)), agent.eval_act
      compiled = agent.compiled_acting
  finally:
    actors.close()
  key = jax.random.PRNGKey(config.seed + episodes)
  final = evaluation.evaluate(
    config,
    eval_act,
    learner,
    devices,
    jax.random.fold_in(key, seed_offset) if seed_offset else key,
    lc.eval_splits,
    episodes,
    cap,
    seed_offset,
    compiled=compiled,
  )
  summary, desc = _eval_summary(
    final,
    lc.eval_splits,
    phase=phase,
    encoder=config.encoder.kind,
    env_steps=env_steps,
    seed=config.seed,
  )
  summary = dict(
    summary, episodes=episodes, **({"seed_offset": seed_offset} if seed_offset else {})
  )
  if devices.is_writer:
    artifacts.write_eval(workdir, summary, episodes, seed_offset)
    print(
      f"[reevaluate] {episodes} episodes per split"
      + (f", seeds offset by {seed_offset}" if seed_offset else "")
      + f": {desc}; wrote "
      f"{artifacts.eval_path(workdir, episodes, seed_offset)}",
      flush=True,
    )
  return summary
