"""The collapse monitor: what it keeps between probes and what it decides.

Every `arch.eigen_every_updates` arch updates the architecture optimizer measures the top
eigenvalue of the alphas' Hessian (hessian.top_eigenvalue; RobustDARTS, Zela et al. 2020: it
rises before DARTS collapses onto parameter-free ops) and hands it to `record`, which keeps the
last probes and, with the options on, applies RobustDARTS's two uses of it:
- early stopping (`arch.early_stop*`): once the local average of the eigenvalue rose by more
  than 1 / ratio over `lag` probes (`should_stop`), the alphas of the rollback point are
  restored and frozen (`hold`);
- DARTS-ADA (`arch.adaptive_l2*`): the same trigger multiplies the weights' L2 factor instead,
  restores the rollback point's alphas and alpha-optimizer state once, and restarts the rule's
  window; at the largest factor triggers are ignored.
Pure and jit-safe; darts_rl/agents/optim.py wires it into the updates (docs/robust_search.md).
"""

from typing import Any, Dict, NamedTuple

import jax
import jax.numpy as jnp


class MonitorState(NamedTuple):
  """The monitor's part of the arch optimizer state (`ArchState.monitor`)."""

  eigenvalue: jnp.ndarray  # f32 []: the latest top Hessian eigenvalue
  eigen_trace: jnp.ndarray  # f32 [early_stop_window + early_stop_lag]: last probes, oldest first
  probes: jnp.ndarray  # int32 []: eigenvalue probes so far
  stopped_at: jnp.ndarray  # int32 []: arch update whose alphas early stopping froze; -1
  snapshots: Any  # the alphas at the last H probes, each leaf [H, ...], oldest first (H: 0 off)
  snapshot_updates: jnp.ndarray  # int32 [H]: the arch update of each snapshot
  stop_alphas: Any  # the alphas early stopping froze or DARTS-ADA restores (rollback point's)
  l2: jnp.ndarray  # f32 []: DARTS-ADA's L2 factor of the weights (0: off or a fixed encoder)
  restarts: jnp.ndarray  # int32 []: DARTS-ADA's triggers so far that raised l2
  restore: jnp.ndarray  # bool []: a DARTS-ADA rollback the next alpha step applies
  window_start: jnp.ndarray  # int32 []: `probes` at the last DARTS-ADA rollback (rule restarts)
  rolled_back_to: jnp.ndarray  # int32 []: arch update of DARTS-ADA's last rollback point; -1
  snapshot_tx: Any  # DARTS-ADA: the alpha optimizer's state at the snapshots ({} otherwise)
  stop_tx: Any  # DARTS-ADA: the alpha optimizer's state to restore ({} otherwise)


def ring_size(options) -> int:
  """Alpha snapshots early stopping keeps (the probes from the rollback point on; 0: off)."""
  if not options.early_stop:
    return 0
  return rollback_offset(options.early_stop_window, options.early_stop_lag) + 1


def init(options, alphas, tx, searching: bool) -> MonitorState:
  """The state before the first probe; `tx` the alpha optimizer's initial state."""
  h = ring_size(options)
  ring = lambda tree: jax.tree.map(
    lambda a: jnp.zeros((h,) + jnp.shape(a), jnp.asarray(a).dtype), tree
  )
  ada = options.adaptive_l2 > 0
  return MonitorState(
    jnp.zeros((), jnp.float32),
    jnp.zeros((options.early_stop_window + options.early_stop_lag,), jnp.float32),
    jnp.zeros((), jnp.int32),
    -jnp.ones((), jnp.int32),
    ring(alphas),
    jnp.zeros((h,), jnp.int32),
    alphas if h else {},
    jnp.asarray(options.adaptive_l2 if searching else 0.0, jnp.float32),
    jnp.zeros((), jnp.int32),
    jnp.zeros((), bool),
    jnp.zeros((), jnp.int32),
    -jnp.ones((), jnp.int32),
    ring(tx) if ada else {},
    tx if ada else {},
  )


def due(options, updates: int) -> bool:
  """Whether the monitor probes before arch update number `updates` (counted from 0)."""
  every = options.eigen_every_updates
  return bool(every) and updates % every == 0


def record(options, s: MonitorState, lam, alphas, tx, updates, warmup_updates) -> MonitorState:
  """The probe before arch update `updates` found eigenvalue `lam` at these alphas and alpha
  optimizer state `tx`: keeps it and decides early stopping / DARTS-ADA. `warmup_updates`:
  the first arch update a rollback point may have."""
  o = options
  trace, probes = push(s.eigen_trace, lam), s.probes + 1
  s = s._replace(eigenvalue=lam, eigen_trace=trace, probes=probes)
  if not o.early_stop:
    return s
  snapshots = jax.tree.map(push, s.snapshots, alphas)
  snapshot_updates = push(s.snapshot_updates, updates)
  # snapshots[0] is the rollback point (window // 2 + lag probes back) once the ring is full.
  stop = (
    (s.stopped_at < 0)
    & (snapshot_updates[0] >= warmup_updates)
    & should_stop(
      trace, probes - s.window_start, o.early_stop_ratio, o.early_stop_window, o.early_stop_lag
    )
  )
  first = lambda ring: jax.tree.map(lambda h: h[0], ring)
  s = s._replace(snapshots=snapshots, snapshot_updates=snapshot_updates)
  if not o.adaptive_l2:
    return s._replace(
      stopped_at=jnp.where(stop, snapshot_updates[0], s.stopped_at),
      stop_alphas=_pick(stop, first(snapshots), s.stop_alphas),
    )
  # DARTS-ADA: below the largest L2 factor a trigger multiplies it, restores the rollback
  # point's alphas and alpha-optimizer state and restarts the rule's window; at the largest
  # one triggers are ignored and the search runs to its end (RobustDARTS, --early_stop 3).
  snapshot_tx = jax.tree.map(push, s.snapshot_tx, tx)
  adapt = stop & (s.restarts < o.adaptive_l2_restarts)
  return s._replace(
    snapshot_tx=snapshot_tx,
    l2=jnp.where(adapt, s.l2 * o.adaptive_l2_factor, s.l2),
    restarts=s.restarts + adapt.astype(jnp.int32),
    restore=s.restore | adapt,
    window_start=jnp.where(adapt, probes, s.window_start),
    rolled_back_to=jnp.where(adapt, snapshot_updates[0], s.rolled_back_to),
    stop_alphas=_pick(adapt, first(snapshots), s.stop_alphas),
    stop_tx=_pick(adapt, first(snapshot_tx), s.stop_tx),
  )


def hold(options, s: MonitorState, split, current, stepped):
  """What an alpha step leaves: `current` and `stepped` are (trainable alphas, alpha optimizer
  state, scheduled values) before and after the step; `split` splits alphas into (trainable,
  scheduled). Early stopping, once fired, keeps the rollback point's alphas and schedules (and
  the current optimizer state); DARTS-ADA puts the rollback point's alphas and optimizer state
  in place once, the schedules following the run. -> ((trainable, tx, schedule), state)."""
  if not options.early_stop:
    return stepped, s
  trainable, schedule = split(s.stop_alphas)
  if options.adaptive_l2:
    held = _pick(s.restore, (trainable, s.stop_tx), stepped[:2])
    return held + (stepped[2],), s._replace(restore=jnp.zeros((), bool))
  return _pick(s.stopped_at >= 0, (trainable, current[1], schedule), stepped), s


def summary(options, s: MonitorState, scalar) -> Dict[str, float]:
  """Log scalars (host side; `scalar` reads one value of a possibly replicated array):
  'arch/probes' and 'arch/eigenvalue' after the first probe; with early stopping
  'arch/stopped' and 'arch/stopped_at_update'; with DARTS-ADA 'arch/l2', 'arch/ada_restarts'
  and 'arch/rolled_back_to_update'."""
  out = {}
  if options.eigen_every_updates and scalar(s.probes) > 0:
    out["arch/probes"] = float(scalar(s.probes))
    out["arch/eigenvalue"] = float(scalar(s.eigenvalue))
  if options.adaptive_l2:
    out["arch/l2"] = float(scalar(s.l2))
    out["arch/ada_restarts"] = float(scalar(s.restarts))
    if scalar(s.rolled_back_to) >= 0:
      out["arch/rolled_back_to_update"] = float(scalar(s.rolled_back_to))
  elif options.early_stop:
    out["arch/stopped"] = float(scalar(s.stopped_at) >= 0)
    if scalar(s.stopped_at) >= 0:
      out["arch/stopped_at_update"] = float(scalar(s.stopped_at))
  return out


def _pick(cond, x, y):
  return jax.tree.map(lambda a, b: jnp.where(cond, a, b), x, y)


# --- RobustDARTS's rule.


def push(trace, value):
  """The trace of the last probes [N, ...], oldest first, with `value` [...] appended (the
  oldest drops). Also the ring of alpha snapshots (one leaf at a time)."""
  return jnp.concatenate([trace[1:], jnp.expand_dims(jnp.asarray(value, trace.dtype), 0)])


def rollback_offset(window: int, lag: int) -> int:
  """How many probes before the current one the rollback point lies: the centre of the
  earlier local-average window, lag + window // 2 probes back."""
  return lag + window // 2


def should_stop(trace, probes, ratio: float, window: int, lag: int):
  """RobustDARTS's rule (Zela et al. 2020, `EVLocalAvg.early_stop`) on the eigenvalue trace
  [window + lag] (the last probes, oldest first): with la(i) the mean of the `window` probes
  ending at probe i, stop when la(i - lag) / la(i) < ratio, i.e. the local average grew by more
  than 1 / ratio over `lag` probes. Never before window + lag probes. The earlier average must
  be distinguishable from zero: above its standard error over the window (sample standard
  deviation / sqrt(window); with window 1, above 0), so a baseline near zero or negative never
  counts as a rise (RobustDARTS's eigenvalues, taken after a warm-up, are well above zero).
  The warm-up itself (the rollback point not before a share of the search) is the caller's."""
  if trace.shape[0] != window + lag:
    raise ValueError(f"the trace holds {trace.shape[0]} probes, the rule needs {window + lag}")
  before, now = trace[:window], trace[lag:]
  floor = jnp.std(before, ddof=1) / jnp.sqrt(window) if window > 1 else 0.0
  base = jnp.mean(before)
  return (probes >= window + lag) & (base > floor) & (base < ratio * jnp.mean(now))
