"""Architecture weights (alphas): a pytree separate from the network parameters.

Micro space: `{cell_type: (node0 [1, K], node1 [2, K], ..., node{n-1} [n, K])}`, one set per cell
type shared by every cell of that type, zero-initialized (uniform mixture).
`mixing_weights` is the one place that turns alphas into op weights; everything (supernet,
discretization, reports) calls it.

Search options (darts_rl/search/robustness.py) add entries next to the cell types; none is there
by default, so the paper's alphas are exactly the cell types':
- `edges`: `{cell_type: (node0 [1], node1 [2], ...)}` PC-DARTS edge-normalization logits,
  trained like the op alphas; see `edge_weights`.
- `schedule`: `{'temperature': [], 'aux_skip': []}` (each only when its option is on): values the
  arch optimizer sets from its schedules and never trains. They travel with the alphas so that
  the network acting and the network learning always use the same temperature and auxiliary
  skip weight. The weight step's alphas alone may also carry `drop_path` (a probability) and
  `drop_key` (ScheduledDropPath; never stored).
"""

from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from darts_rl.search import ops

Alphas = Dict[str, Tuple[jnp.ndarray, ...]]

EDGES = "edges"
SCHEDULE = "schedule"
OPTION_KEYS = (EDGES, SCHEDULE)


def init_alphas(cell_types: Sequence[str], num_nodes: int, num_ops: int) -> Alphas:
  """Zero alphas: node i of each cell type gets an array [1 + i, num_ops]."""
  return {
    ct: tuple(jnp.zeros((1 + i, num_ops), jnp.float32) for i in range(num_nodes))
    for ct in cell_types
  }


def mixing_weights(alpha, temperature=1.0):
  """softmax(alpha / T) over the last axis (ops). [..., K] -> [..., K]. T may be traced."""
  if isinstance(temperature, (int, float)) and temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  return jax.nn.softmax(jnp.asarray(alpha, jnp.float32) / temperature, axis=-1)


def edge_weights(beta):
  """PC-DARTS edge normalization of node i: (i + 1) softmax(beta) over its edges. [1 + i] ->
  [1 + i]. The factor i + 1 makes zero logits weigh every edge 1, today's plain sum."""
  beta = jnp.asarray(beta, jnp.float32)
  return beta.shape[-1] * jax.nn.softmax(beta, axis=-1)


@jax.jit
def all_mixing_weights(alphas, temperature=1.0):
  """mixing_weights on every leaf of an alphas pytree (no option entries), in one compiled
  call; the temperature is traced, so a scheduled one does not recompile."""
  return jax.tree.map(lambda a: mixing_weights(a, temperature), alphas)


# --- The layout with option entries.


def split(alphas) -> Tuple[Dict, Dict]:
  """-> (trainable: the op alphas and `edges`, schedule: the non-trainable values or {})."""
  alphas = dict(alphas) if alphas else {}
  return alphas, alphas.pop(SCHEDULE, {})


def merge(trainable, schedule) -> Dict:
  """The inverse of `split`."""
  return dict(trainable, **({SCHEDULE: schedule} if schedule else {}))


def op_alphas(alphas) -> Dict:
  """The op alphas alone (the space's own entries, what discretization ranks)."""
  return {k: v for k, v in (alphas or {}).items() if k not in OPTION_KEYS}


def scheduled_temperature(alphas, default):
  """The scheduled temperature when the alphas carry one, else `default` (the config's)."""
  return (alphas or {}).get(SCHEDULE, {}).get("temperature", default)


def is_option_key(name: str) -> bool:
  """Whether a flattened alphas key ('edges/normal/node1', 'schedule/temperature', as in
  alphas.npz) belongs to an option entry rather than to the op alphas."""
  return name.split("/", 1)[0] in OPTION_KEYS


class CellAlphas(NamedTuple):
  """What one cell reads from the alphas: its op alphas and the options' entries (None: off)."""

  ops: Tuple
  edges: Optional[Tuple] = None
  temperature: Optional[jnp.ndarray] = None
  aux_skip: Optional[jnp.ndarray] = None
  drop_path: Optional[jnp.ndarray] = None  # ScheduledDropPath: edge drop probability []
  drop_key: Optional[jnp.ndarray] = None  # and its PRNG key (weight steps only)


def cell_alphas(alphas, cell_type: str) -> Optional[CellAlphas]:
  """The CellAlphas of `cell_type`; None for a fixed network's empty alphas."""
  if not alphas:
    return None
  schedule = alphas.get(SCHEDULE, {})
  edges = alphas.get(EDGES)
  return CellAlphas(
    alphas[cell_type],
    None if edges is None else edges[cell_type],
    schedule.get("temperature"),
    schedule.get("aux_skip"),
    schedule.get("drop_path"),
    schedule.get("drop_key"),
  )


# --- Logging.


def entropy(w, axis=-1):
  """Entropy in nats of weights w along `axis`."""
  w = np.asarray(w, np.float64)
  return -np.sum(w * np.log(w + 1e-12), axis=axis)


def param_free_share(w, op_names: Sequence[str]) -> float:
  """Mean over edges of the mixing weight on parameter-free ops, Zero left out of both sides
  (discretization never picks it). w [E, K] -> scalar; uniform weights over the base op set
  give 3/4 (Relu, Tanh, Skip of Conv3x3, Relu, Tanh, Skip)."""
  w = np.asarray(w, np.float64)
  free = np.array([n in ops.PARAMETER_FREE and n != ops.ZERO for n in op_names])
  real = np.array([n != ops.ZERO for n in op_names])
  return float(np.mean(w[:, free].sum(-1) / w[:, real].sum(-1)))


def mixing_summary(
  alphas: Alphas, op_names: Sequence[str], temperature: float = 1.0
) -> Dict[str, float]:
  """{'normal/n2_in1/Conv3x3': w, ..., 'normal/entropy': mean edge entropy,
  'normal/param_free': param_free_share} for logging; with learned edge weights also
  'normal/n2_in1/edge' (the edge's (i + 1) softmax weight). A scheduled temperature in the
  alphas replaces `temperature`."""
  out = {}
  t = float(jax.device_get(scheduled_temperature(alphas, temperature)))
  weights = jax.device_get(all_mixing_weights(op_alphas(alphas), t))
  edges = (alphas or {}).get(EDGES)
  for ct, nodes in weights.items():
    for i, w in enumerate(nodes):
      e = None if edges is None else np.asarray(edge_weights(edges[ct][i]))
      for j in range(w.shape[0]):
        for k, name in enumerate(op_names):
          out[f"{ct}/n{i}_in{j}/{name}"] = float(w[j, k])
        if e is not None:
          out[f"{ct}/n{i}_in{j}/edge"] = float(e[j])
    out[f"{ct}/entropy"] = float(np.mean(np.concatenate([entropy(w) for w in nodes])))
    out[f"{ct}/param_free"] = param_free_share(np.concatenate(nodes), op_names)
  return out
