"""The shared outer loop of every phase and agent: schedule, logging, checkpoint/resume, eval.

    run(config, workdir, phase) -> eval summary

`search` trains an agent whose encoder is a supernet (alphas trained too, their history in
alphas.npz); `evaluate` retrains a fixed encoder from scratch. Both end with an evaluation
written to eval.json. A killed run resumes from its latest checkpoint when rerun with the same
command; a finished run is a no-op.
"""
import math
import os
import time
from typing import Dict, Tuple

import jax
import numpy as np

from darts_rl import artifacts
from darts_rl import checkpoint as checkpoint_lib
from darts_rl import evaluation
from darts_rl import progress as progress_lib
from darts_rl.agents import make_agent
from darts_rl.envs import make_env
from darts_rl.networks import make_encoder
from darts_rl.rollout import EnvRunner

PHASES = ("search", "evaluate")
RANDOM_POLICY = "random_policy"  # phase name of evaluate_random_policy's workdirs
SPLIT_NAMES = artifacts.SPLIT_KEYS


class NaNLossError(FloatingPointError):
  """Training produced a non-finite loss; the last good checkpoint is kept."""


def check_phase(config, phase: str):
  if phase not in PHASES:
    raise ValueError(f"unknown phase '{phase}'; valid phases: {', '.join(PHASES)}")
  kind = config.encoder.kind
  if phase == "search" and kind != "supernet":
    raise ValueError(f"search needs encoder.kind=supernet, got '{kind}' "
                     "(use launch/evaluate.py for fixed and baseline encoders)")
  if phase == "evaluate" and kind == "supernet":
    raise ValueError("evaluate trains a fixed encoder: use encoder.kind=fixed with a genotype, "
                     "or a baseline (impala, cnn4)")


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


def run(config, workdir: str, phase: str) -> Dict:
  check_phase(config, phase)
  if artifacts.claim(workdir, phase, config):
    print(f"[{phase}] {workdir} already finished; nothing to do.", flush=True)
    return artifacts.read_eval(workdir)
  lc = config.loop
  encoder = make_encoder(config.encoder)
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
  resume_step = ckpt.latest_step()
  env = make_env(config.env, config.seed + (resume_step or 0), "train")
  try:
    agent = make_agent(config, encoder, env)
    resume_step, agent_state, key, env_steps = _restore(config, agent, ckpt)
    if resume_step is not None:
      print(f"[{phase}] resuming {workdir} from env step {env_steps}", flush=True)
    writer = artifacts.MetricsWriter(workdir, env_steps if resume_step is not None else 0,
                                     tensorboard=lc.tensorboard)
    space = encoder.space if phase == "search" else None
    alphas_log = None
    if space is not None:
      alphas_log = artifacts.AlphasWriter(workdir, getattr(space, "op_names", None),
                                          config.encoder.temperature,
                                          env_steps if resume_step is not None else 0)
      if not alphas_log.steps:
        alphas_log.add(env_steps, agent_state.alphas)
    total = int(lc.total_env_steps)
    progress = progress_lib.Progress(phase, total, env_steps)
    runner = EnvRunner(env)
    t_log, steps_log = time.time(), env_steps
    # Training wall time carries over a resume (from the last kept metrics row).
    wall0 = time.time() - (writer.history[-1].get("wall_s") or 0.0 if writer.history else 0.0)
    per_iter = agent.env_steps_per_iteration
    while env_steps < total:
      key, it_key = jax.random.split(key)
      agent_state, m = agent.iteration(agent_state, runner, it_key)
      env_steps += per_iter
      bad = [k for k, v in m.items() if not math.isfinite(v)]
      if bad:
        raise NaNLossError(f"non-finite {', '.join(bad[:3])} at env step {env_steps}; stopped. "
                           f"The last good checkpoint is kept in {ckpt.directory}")
      crossed = lambda every: every > 0 and env_steps // every > (env_steps - per_iter) // every
      last = env_steps >= total
      if crossed(lc.log_every_env_steps) or last:
        scalars = dict(m)
        scalars.update(_episode_scalars(runner.pop_episodes(), env.game_names))
        now = time.time()
        scalars["sps"] = (env_steps - steps_log) / max(now - t_log, 1e-9)
        scalars["wall_s"] = now - wall0
        t_log, steps_log = now, env_steps
        if crossed(lc.eval_every_env_steps) and not last:
          key, ek = jax.random.split(key)
          scalars.update(_evaluate(config, agent, agent_state, ek, quick=True))
        if space is not None:
          alphas_log.add(env_steps, agent_state.alphas)
          scalars.update({f"alpha/{k}": v for k, v in
                          space.mixing_summary(agent_state.alphas,
                                               config.encoder.temperature).items()})
        writer.write(env_steps, scalars)
        progress.print(env_steps, scalars)
      if crossed(lc.checkpoint_every_env_steps) or last:
        ckpt.save(env_steps, {"agent": agent_state, "key": key, "env_steps": np.int64(env_steps)})
    key, ek = jax.random.split(key)
    final = _evaluate(config, agent, agent_state, ek, quick=False)
    summary, desc = _write_eval(workdir, final, lc.eval_splits, phase=phase,
                                encoder=config.encoder.kind, env_steps=env_steps,
                                seed=config.seed)
    final_row = {f"eval/{SPLIT_NAMES[s]}/return": final[s]["mean_return"] for s in lc.eval_splits}
    writer.write(env_steps, dict(final_row, wall_s=time.time() - wall0))
    writer.close()
    artifacts.mark_done(workdir, {"env_steps": env_steps})
    print(f"[{phase}] done: {env_steps} env steps; eval return {desc}; wrote "
          f"{artifacts.eval_path(workdir)}", flush=True)
    return summary
  finally:
    env.close()


def evaluate_random_policy(config, workdir: str) -> Dict:
  """eval.json of a uniform random policy on the config's envs, measured like a trained one."""
  if artifacts.claim(workdir, RANDOM_POLICY, config):
    print(f"[{RANDOM_POLICY}] {workdir} already finished; nothing to do.", flush=True)
    return artifacts.read_eval(workdir)
  env = make_env(config.env, config.seed, "train")
  agent = evaluation.UniformRandomAgent(env.action_spec, config.seed)
  env.close()
  final = _evaluate(config, agent, None, jax.random.PRNGKey(config.seed), quick=False)
  summary, desc = _write_eval(workdir, final, config.loop.eval_splits,
                              phase=RANDOM_POLICY, encoder="none (uniform random actions)",
                              env_steps=0, seed=config.seed)
  artifacts.mark_done(workdir)
  print(f"[{RANDOM_POLICY}] eval return {desc}; wrote {artifacts.eval_path(workdir)}",
        flush=True)
  return summary


def reevaluate(workdir: str, episodes: int) -> Dict:
  """Evaluates a finished run's final policy again, with `episodes` episodes per split.

  For a tighter estimate than the run's own evaluation. Works on search, evaluate and
  random_policy workdirs; writes WORKDIR/eval_<episodes>.json (eval.json's layout plus
  "episodes") and changes nothing else. The run's cap on evaluation env steps
  (loop.eval_max_env_steps) is scaled by episodes / loop.eval_episodes.
  """
  if episodes < 1:
    raise ValueError(f"--episodes must be >= 1, got {episodes}")
  artifacts.require_done(workdir)
  phase = artifacts.phase(workdir)
  config = artifacts.load_config(workdir)
  # The run's safety cap on evaluation length was sized for its own episode count: scale it.
  cap = config.loop.eval_max_env_steps
  config.loop.eval_max_env_steps = max(cap, -(-cap * episodes // config.loop.eval_episodes))
  config.loop.eval_episodes = episodes
  env = make_env(config.env, config.seed, "train")
  try:
    if phase == RANDOM_POLICY:
      agent, state, env_steps = evaluation.UniformRandomAgent(env.action_spec, config.seed), None, 0
    else:
      agent = make_agent(config, make_encoder(config.encoder), env)
      ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
      step, state, _, env_steps = _restore(config, agent, ckpt)
      if step is None:
        raise artifacts.ArtifactError(f"{workdir} has no checkpoint to evaluate")
  finally:
    env.close()
  final = _evaluate(config, agent, state, jax.random.PRNGKey(config.seed + episodes), quick=False)
  summary, desc = _write_eval(workdir, final, config.loop.eval_splits, episodes=episodes,
                              phase=phase, encoder=config.encoder.kind, env_steps=env_steps,
                              seed=config.seed)
  print(f"[reevaluate] {episodes} episodes per split: {desc}; wrote "
        f"{artifacts.eval_path(workdir, episodes)}", flush=True)
  return summary


def _restore(config, agent, ckpt):
  """(checkpoint step or None, agent state, key, env steps): the latest checkpoint, else fresh."""
  key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
  template = {"agent": agent.init(init_key), "key": key, "env_steps": np.int64(0)}
  step, saved = ckpt.restore(template)
  return step, saved["agent"], saved["key"], int(saved["env_steps"])


def _write_eval(workdir: str, final: Dict, splits, episodes=None, **head) -> Tuple[Dict, str]:
  """Writes `head` plus each split's results to eval.json (eval_<episodes>.json); returns
  (summary, a one-line description of the returns)."""
  summary = dict(head, **{SPLIT_NAMES[s]: final[s] for s in splits})
  summary = artifacts.write_eval(workdir, summary, episodes)
  desc = ", ".join(f"{SPLIT_NAMES[s]} {final[s]['mean_return']:.3g} ± {final[s]['std_return']:.2g}"
                   + (f" (only {final[s]['episodes']} episodes: loop.eval_max_env_steps reached)"
                      if final[s].get("capped") else "") for s in splits)
  return summary, desc


def _evaluate(config, agent, state, key, quick: bool) -> Dict:
  """Evaluates on each split of loop.eval_splits. quick: returns flat scalars for logging."""
  lc = config.loop
  out = {}
  for i, split in enumerate(lc.eval_splits):
    env = make_env(config.env, config.seed + 7919 * (i + 1), split)
    try:
      res = evaluation.evaluate(agent, state, env, lc.eval_episodes, jax.random.fold_in(key, i),
                                lc.eval_max_env_steps)
    finally:
      env.close()
    if quick:
      out[f"eval/{SPLIT_NAMES[split]}/return"] = res["mean_return"]
    else:
      out[split] = res
  return out
