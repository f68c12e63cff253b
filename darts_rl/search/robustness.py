"""Options against DARTS's collapse onto parameter-free ops, all off by default (the paper).

Each is one `arch.*` config key (darts_rl/config.py), read once into `SearchOptions`:
- `temperature_schedule` / `temperature_end`: softmax(alpha / T) with T going from
  encoder.temperature to temperature_end over the search, linearly or exponentially
  (annealing towards one-hot narrows the gap between supernet and discretized cell).
- `beta_decay`: beta-DARTS's Beta-Decay regularization (Ye et al. 2022): lambda(p) * mean over
  edges of logsumexp(alpha_edge), lambda rising linearly from 0 to beta_decay over the search.
- `aux_skip`: DARTS-'s auxiliary skip (Chu et al. 2021): beta(p) * skip(x) added to every
  edge, beta decaying linearly from aux_skip to 0, so the skip's advantage goes to a path
  outside the ops' competition and the search ends as plain DARTS.
- `smoothing_eps`: SDARTS random smoothing (Chen & Hsieh 2020): the weight step sees the
  mixing weights plus U[-eps, eps] noise (clipped to [0, 1], renormalized), eps ramped from
  0.03 to `smoothing_eps` over the search; the alpha step sees the alphas themselves.
- `drop_path`: ScheduledDropPath (RobustDARTS's search cells, after DARTS / NASNet): in the
  weight step each edge's output is dropped per sample with probability drop_path x p.
- `edge_weights=learned`: PC-DARTS edge normalization (Xu et al. 2020), alphas.edge_weights.
- `eigen_every_updates` / `eigen_iterations`: the collapse monitor (RobustDARTS, Zela et al.
  2020), darts_rl/search/hessian.py and monitor.py; `early_stop*`: RobustDARTS's stopping rule
  on it; `adaptive_l2*`: DARTS-ADA, the same rule raising the weights' L2 factor instead.
- `mode`, `clip_together`: how the alphas step (darts_rl/agents/optim.py).
p in [0, 1] is the search's progress: arch updates so far / the run's total arch updates.
Every function here is pure and jit-safe; darts_rl/agents/optim.py wires them into updates.
"""

import dataclasses
import math
from typing import Dict, Optional

import jax
import jax.numpy as jnp

from darts_rl.search import alphas as alphas_lib

# arch.mode: how the alphas step (darts_rl/agents/optim.py).
ARCH_UPDATES = ("joint", "alternating", "second_order")
TEMPERATURE_SCHEDULES = ("constant", "linear", "exponential")
# SDARTS's noise half-width at the start of the search (SmoothDARTS: 0.03 + (eps - 0.03) p).
SMOOTHING_EPS_START = 0.03
EDGE_WEIGHTS = ("uniform", "learned")


@dataclasses.dataclass(frozen=True)
class SearchOptions:
  """The search options of `arch.*`, parsed once per run (by DualOptimizer from config.arch);
  defaults are the paper's plain DARTS."""

  mode: str = "joint"
  clip_together: bool = True
  temperature_schedule: str = "constant"
  temperature_end: float = 1.0
  beta_decay: float = 0.0
  aux_skip: float = 0.0
  smoothing_eps: float = 0.0
  drop_path: float = 0.0
  edge_weights: str = "uniform"
  eigen_every_updates: int = 0
  eigen_iterations: int = 10
  early_stop: bool = False
  early_stop_window: int = 5
  early_stop_lag: int = 4
  early_stop_ratio: float = 0.75
  early_stop_warmup: float = 0.2
  adaptive_l2: float = 0.0
  adaptive_l2_factor: float = 10.0
  adaptive_l2_max: float = 3e-2

  def __post_init__(self):
    if self.mode not in ARCH_UPDATES:
      raise ValueError(f"unknown arch.mode '{self.mode}'; valid modes: {', '.join(ARCH_UPDATES)}")
    if self.temperature_schedule not in TEMPERATURE_SCHEDULES:
      raise ValueError(
        f"unknown arch.temperature_schedule '{self.temperature_schedule}'; "
        f"valid schedules: {', '.join(TEMPERATURE_SCHEDULES)}"
      )
    if self.edge_weights not in EDGE_WEIGHTS:
      raise ValueError(
        f"unknown arch.edge_weights '{self.edge_weights}'; valid values: {', '.join(EDGE_WEIGHTS)}"
      )
    if self.temperature_end <= 0:
      raise ValueError(f"arch.temperature_end must be > 0, got {self.temperature_end}")
    for name in ("beta_decay", "aux_skip", "smoothing_eps", "eigen_every_updates"):
      if getattr(self, name) < 0:
        raise ValueError(f"arch.{name} must be >= 0 (0 = off), got {getattr(self, name)}")
    if self.eigen_iterations < 1 or self.early_stop_window < 1 or self.early_stop_lag < 1:
      raise ValueError(
        "arch.eigen_iterations, arch.early_stop_window and arch.early_stop_lag must be >= 1"
      )
    if not 0 <= self.drop_path < 1:
      raise ValueError(f"arch.drop_path must be in [0, 1), got {self.drop_path}")
    if not 0 <= self.early_stop_warmup < 1:
      raise ValueError(f"arch.early_stop_warmup must be in [0, 1), got {self.early_stop_warmup}")
    if not 0 < self.early_stop_ratio < 1:
      raise ValueError(f"arch.early_stop_ratio must be in (0, 1), got {self.early_stop_ratio}")
    if self.early_stop and not self.eigen_every_updates:
      raise ValueError(
        "arch.early_stop needs the eigenvalue monitor: set arch.eigen_every_updates > 0"
      )
    if self.adaptive_l2 < 0:
      raise ValueError(f"arch.adaptive_l2 must be >= 0 (0 = off), got {self.adaptive_l2}")
    if self.adaptive_l2 > 0:
      if not self.early_stop:
        raise ValueError("arch.adaptive_l2 (DARTS-ADA) needs its trigger: set arch.early_stop=True")
      if self.adaptive_l2_factor <= 1:
        raise ValueError(f"arch.adaptive_l2_factor must be > 1, got {self.adaptive_l2_factor}")
      k = self.adaptive_l2_restarts
      if k < 0 or not math.isclose(self.l2_at(k), self.adaptive_l2_max, rel_tol=1e-3):
        raise ValueError(
          f"arch.adaptive_l2_max={self.adaptive_l2_max} must be arch.adaptive_l2 x "
          f"arch.adaptive_l2_factor^k for some k >= 0 (e.g. {self.l2_at(max(k, 1)):g})"
        )

  @classmethod
  def from_config(cls, arch) -> "SearchOptions":
    """From the `arch` ConfigDict; keys it lacks keep their defaults."""
    return cls(**{f.name: arch.get(f.name, f.default) for f in dataclasses.fields(cls)})

  @property
  def scheduled(self) -> bool:
    """Whether a value follows the search's progress (needs the run's total arch updates)."""
    return (
      self.temperature_schedule != "constant"
      or self.aux_skip > 0
      or self.beta_decay > 0
      or self.smoothing_eps > 0
      or self.drop_path > 0
      or (self.early_stop and self.early_stop_warmup > 0)
    )

  @property
  def adaptive_l2_restarts(self) -> int:
    """DARTS-ADA's restarts: triggers that raise the L2 factor before it reaches its maximum
    (0 when off). RobustDARTS's search script: 3e-4 x 10^k up to 3e-2, k = 2."""
    if not self.adaptive_l2:
      return 0
    ratio = self.adaptive_l2_max / self.adaptive_l2
    return round(math.log(ratio) / math.log(self.adaptive_l2_factor)) if ratio > 0 else -1

  def l2_at(self, restarts):
    """DARTS-ADA's L2 factor after `restarts` triggers: adaptive_l2 x factor^restarts."""
    return self.adaptive_l2 * self.adaptive_l2_factor**restarts

  def schedule_start(self, temperature: float) -> Dict[str, jnp.ndarray]:
    """The `schedule` entry of the initial alphas ({} when nothing is scheduled)."""
    start = {}
    if self.temperature_schedule != "constant":
      start["temperature"] = jnp.asarray(temperature, jnp.float32)
    if self.aux_skip > 0:
      start["aux_skip"] = jnp.asarray(self.aux_skip, jnp.float32)
    return start

  def schedule(self, start: Dict, progress) -> Dict[str, jnp.ndarray]:
    """The scheduled values at `progress` p, from their values at p = 0 (`start`):
    temperature T0 + (T1 - T0) p (linear) or T0 (T1 / T0)^p (exponential); aux_skip
    b0 (1 - p)."""
    out = {}
    if "temperature" in start:
      t0, t1 = start["temperature"], self.temperature_end
      out["temperature"] = (
        t0 + (t1 - t0) * progress
        if self.temperature_schedule == "linear"
        else t0 * (t1 / t0) ** progress
      )
    if "aux_skip" in start:
      out["aux_skip"] = start["aux_skip"] * (1.0 - progress)
    return jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), out)

  def beta_decay_weight(self, progress):
    """lambda(p) = beta_decay * p (beta-DARTS raises it linearly over the search)."""
    return self.beta_decay * progress

  def drop_path_at(self, progress):
    """ScheduledDropPath's probability: drop_path x p (RobustDARTS: epoch / (epochs - 1))."""
    return self.drop_path * progress

  def smoothing_eps_at(self, progress):
    """SDARTS's ramp: eps(p) = 0.03 + (smoothing_eps - 0.03) p (0.03 to 0.3 in the paper)."""
    return SMOOTHING_EPS_START + (self.smoothing_eps - SMOOTHING_EPS_START) * progress


def init_extras(space, options: Optional[SearchOptions], temperature: float) -> Dict:
  """The option entries of a supernet's initial alphas ({} when no option needs one)."""
  if options is None:
    return {}
  extras = {}
  micro_only = [
    name
    for name, on in (
      ("edge_weights=learned", options.edge_weights == "learned"),
      ("aux_skip", options.aux_skip > 0),
      ("temperature_schedule", options.temperature_schedule != "constant"),
      ("drop_path", options.drop_path > 0),
    )
    if on
  ]
  if micro_only and not space.cell_types:
    raise ValueError(
      f"arch.{', arch.'.join(micro_only)} act on micro-space cells; the macro "
      "space supports arch.beta_decay, smoothing_eps, eigen_every_updates, "
      "early_stop and mode=second_order"
    )
  if options.edge_weights == "learned":
    extras[alphas_lib.EDGES] = {
      ct: tuple(jnp.zeros((1 + i,), jnp.float32) for i in range(space.num_nodes))
      for ct in space.cell_types
    }
  start = options.schedule_start(temperature)
  if start:
    extras[alphas_lib.SCHEDULE] = start
  return extras


class OptionSpace:
  """A search space whose alphas carry option entries: `init_alphas` adds them, everything
  else is the wrapped space's (its discretize and mixing_summary read them from the alphas)."""

  def __init__(self, space, extras: Dict):
    self.space, self.extras = space, extras

  def init_alphas(self):
    return dict(self.space.init_alphas(), **self.extras)

  def __getattr__(self, name):
    if name in ("space", "extras"):  # not set yet (copy, unpickling)
      raise AttributeError(name)
    return getattr(self.space, name)


# --- Beta-Decay regularization.


def beta_decay_loss(alphas) -> jnp.ndarray:
  """Mean over every edge (a row of an op-alpha leaf) of logsumexp(alpha_edge). Its gradient
  on an edge is softmax(alpha_edge) / E: it pulls the largest alphas down most."""
  rows = [a.reshape(-1, a.shape[-1]) for a in jax.tree.leaves(alphas_lib.op_alphas(alphas))]
  if not rows:
    return jnp.zeros((), jnp.float32)
  return jnp.mean(jax.nn.logsumexp(jnp.concatenate(rows), axis=-1))


# --- Random smoothing.


def smooth_weights(w, key, eps):
  """SDARTS-RS's perturbation of mixing weights w [..., K] (rows sum to 1): w + U[-eps, eps]
  per entry, clipped to [0, 1]; a row clipped to all zeros gets 1 at its largest noisy entry;
  each row renormalized to sum 1 (SmoothDARTS `Random_alpha` then `clip`)."""
  noisy = w + jax.random.uniform(key, w.shape, w.dtype, minval=-eps, maxval=eps)
  clipped = jnp.clip(noisy, 0.0, 1.0)
  top = jax.nn.one_hot(jnp.argmax(noisy, axis=-1), w.shape[-1], dtype=w.dtype)
  clipped = jnp.where(jnp.sum(clipped, -1, keepdims=True) > 0, clipped, top)
  return clipped / jnp.sum(clipped, -1, keepdims=True)


def smooth(trainable, key, eps, temperature):
  """The alphas the weight step sees under SDARTS-RS: each op-alpha leaf's mixing weights
  softmax(alpha / T) perturbed by `smooth_weights`, returned as logits T log(w') so the
  supernet's softmax gives exactly w' (a weight clipped to 0 becomes a logit of T log 1e-30);
  learned edge logits are left as they are."""
  ops = alphas_lib.op_alphas(trainable)
  leaves, tree = jax.tree.flatten(ops)
  keys = jax.random.split(key, max(len(leaves), 1))
  out = []
  for a, k in zip(leaves, keys):
    w = smooth_weights(alphas_lib.mixing_weights(a, temperature), k, eps)
    out.append(temperature * jnp.log(jnp.maximum(w, 1e-30)))
  return dict(trainable, **jax.tree.unflatten(tree, out))
