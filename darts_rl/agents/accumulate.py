"""Gradient accumulation: one minibatch's `DualOptimizer` update as several jitted gradient calls
summed on the device, then one optimizer step per pass (PPO's `ppo.grad_chunks`).

On XLA:CPU the cost per sample grows with the batch size (benchmarks/RESULTS.md), so several
smaller calls are faster than one. The gradient is the whole minibatch's (up to float summation
order), the update's key is the one-call update's, and the collapse monitor probes the whole
(alpha) minibatch, so the result does not depend on the number of chunks. Joint and alternating
modes (`DualOptimizer.accumulates`).
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from darts_rl import parallel
from darts_rl.agents import optim


class Accumulated:
  """The accumulated update of minibatch `m` of the data an agent prepared.

  select(data, key, m, arch=False, chunk=None) -> minibatch m of `data` (arch: the alpha
  minibatch of the alternating mode; chunk: one of `chunks` equal parts, a traced int32, None
  for the whole), inside the device-mapped step; loss_fn(params, alphas, minibatch) as for
  `DualOptimizer.update`. The update's key is fold_in(key, m), as the one-call update's.
  """

  def __init__(
    self, opt: optim.DualOptimizer, devices, loss_fn: Callable, select: Callable, chunks: int
  ):
    if not opt.accumulates:
      raise ValueError(
        f"arch.mode={opt.mode} needs both minibatches in one call (DualOptimizer.update): "
        "gradient accumulation (e.g. ppo.grad_chunks > 1) supports joint and alternating"
      )
    self.opt, self.loss_fn, self.select, self.chunks = opt, loss_fn, select, chunks
    d, parts = devices, opt.passes
    # One compiled zeros per pass: the weight pass and the alpha pass sum different trees.
    self._zeros = {p: d.compile(lambda tree: jax.tree.map(jnp.zeros_like, tree)) for p in parts}
    self._chunk = {p: d.compile(functools.partial(self._chunk_fn, p), donate=(4,)) for p in parts}
    # The summed gradients are not donated: no output has their shapes to reuse them for.
    self._apply = {p: d.compile(functools.partial(self._apply_fn, p), donate=(0,)) for p in parts}
    self._chunk_ids = [d.broadcast(np.int32(k)) for k in range(chunks)]
    probing = bool(opt.options.eigen_every_updates)
    self._monitor = d.compile(self._monitor_fn, donate=(0,)) if probing else None

  def __call__(self, state: optim.DualState, data, key, m, auxes, probe: bool = False):
    """-> the state after minibatch m's update (key: the epoch's, m: the minibatch's index, both
    on the devices; probe: the monitor is due, decided by the caller as for `update`); each
    call's loss terms and each pass's gradient norms are appended to `auxes`."""
    if probe:
      state = self._monitor(state, data, key, m)
    for part in self._chunk:
      grads = self._zeros[part](self.opt.pass_tree(state, part))
      for k in self._chunk_ids:
        grads, aux = self._chunk[part](state, data, key, m, grads, k)
        auxes.append(aux)
      state, norms = self._apply[part](state, grads)
      auxes.append(norms)
    return state

  def _monitor_fn(self, state, data, key, m):
    """The probe the one-call update makes: the whole alpha minibatch where there is one, with
    the update's key."""
    mb = self.select(data, key, m, arch=self.opt.needs_arch_batch)
    probe_key = optim.probe_key(jax.random.fold_in(key, m))
    return self.opt.monitor(self.loss_fn, state, mb, parallel.AXIS, probe_key, probe=True)

  def _chunk_fn(self, part, state, data, key, m, grads, k):
    """-> (grads + chunk k's gradient / chunks, its loss terms)."""
    mb = self.select(data, key, m, arch=part == "alphas", chunk=k)
    g, aux = self.opt.pass_grads(self.loss_fn, state, mb, part, jax.random.fold_in(key, m))
    grads = jax.tree.map(lambda a, x: a + x / self.chunks, grads, g)
    return grads, parallel.pmean(aux)

  def _apply_fn(self, part, state, grads):
    """(state, summed gradients) -> (state after the pass's optimizer step(s), grad norms)."""
    return self.opt.apply_pass(state, grads, part, parallel.AXIS)
