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
- `smoothing_eps`: SDARTS random smoothing (Chen & Hsieh 2020): the weight step sees
  alpha + U[-eps, eps] noise.
- `edge_weights=learned`: PC-DARTS edge normalization (Xu et al. 2020), alphas.edge_weights.
- `eigen_every_updates` / `eigen_iterations`: the collapse monitor (RobustDARTS, Zela et al.
  2020), darts_rl/search/hessian.py; `early_stop*`: RobustDARTS's stopping rule on it.
p in [0, 1] is the search's progress: arch updates so far / the run's total arch updates.
Every function here is pure and jit-safe; darts_rl/agents/optim.py wires them into updates.
"""

import dataclasses
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import optax

from darts_rl.search import alphas as alphas_lib

TEMPERATURE_SCHEDULES = ("constant", "linear", "exponential")
EDGE_WEIGHTS = ("uniform", "learned")


@dataclasses.dataclass(frozen=True)
class SearchOptions:
  """The robustness options of `arch.*`; defaults are the paper's plain DARTS."""

  temperature_schedule: str = "constant"
  temperature_end: float = 1.0
  beta_decay: float = 0.0
  aux_skip: float = 0.0
  smoothing_eps: float = 0.0
  edge_weights: str = "uniform"
  eigen_every_updates: int = 0
  eigen_iterations: int = 10
  early_stop: bool = False
  early_stop_window: int = 5
  early_stop_ratio: float = 0.75

  def __post_init__(self):
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
    if self.eigen_iterations < 1 or self.early_stop_window < 1:
      raise ValueError("arch.eigen_iterations and arch.early_stop_window must be >= 1")
    if not 0 < self.early_stop_ratio < 1:
      raise ValueError(f"arch.early_stop_ratio must be in (0, 1), got {self.early_stop_ratio}")
    if self.early_stop and not self.eigen_every_updates:
      raise ValueError(
        "arch.early_stop needs the eigenvalue monitor: set arch.eigen_every_updates > 0"
      )

  @classmethod
  def from_config(cls, arch) -> "SearchOptions":
    """From the `arch` ConfigDict; keys it lacks keep their defaults."""
    return cls(**{f.name: arch.get(f.name, f.default) for f in dataclasses.fields(cls)})

  @property
  def scheduled(self) -> bool:
    """Whether a value follows the search's progress (needs the run's total arch updates)."""
    return self.temperature_schedule != "constant" or self.aux_skip > 0 or self.beta_decay > 0

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


def smooth(trainable, key, eps: float):
  """alpha + U[-eps, eps], independently per entry (SDARTS-RS): the alphas a weight step sees."""
  noise = optax.tree.random_like(
    key,
    trainable,
    sampler=lambda k, shape, dtype: jax.random.uniform(k, shape, dtype, minval=-eps, maxval=eps),
  )
  return optax.tree.add(trainable, noise)


# --- RobustDARTS early stopping.


def push(trace, value):
  """The trace of the last probes [N], oldest first, with `value` appended (the oldest drops)."""
  return jnp.concatenate([trace[1:], jnp.reshape(value, (1,)).astype(trace.dtype)])


def should_stop(trace, probes, ratio: float):
  """RobustDARTS's rule on the eigenvalue trace [2w] (the last 2w probes, oldest first): stop
  when mean(last w) > 0 and mean(previous w) / mean(last w) < ratio, i.e. the dominant
  eigenvalue grew by more than 1 / ratio over w probes (Zela et al.: w = 5 epochs, 0.75).
  Never before 2w probes."""
  w = trace.shape[0] // 2
  before, now = jnp.mean(trace[:w]), jnp.mean(trace[w:])
  return (probes >= 2 * w) & (now > 0) & (before < ratio * now)
