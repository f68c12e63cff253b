"""How weights and architecture weights learn together: `DualOptimizer`.

The alphas are a pytree separate from the params with their own optax optimizer. Agents build
one `DualOptimizer(weight_tx, config.arch)` (which parses config.arch once into
`robustness.SearchOptions`), keep a `DualState` (weights, alphas, both optimizer states) and
call only its methods with it: `update(loss_fn, state, batch, ...) -> (state, aux)`, or the
accumulation passes; they never look inside the alphas (the search space and this module own
their layout) and never read the mode. Modes (`arch.mode`):
- `joint` (the paper): one gradient of the same RL loss on the same minibatch for both pytrees.
- `alternating` (first-order DARTS): the weights step on minibatch A, then the alphas step on a
  different minibatch B with the updated weights.
- `second_order` (DARTS's second order): the weights step on A as in alternating; the alpha
  gradient on B goes through one virtual weight step, the one the weight optimizer takes on A
  (hessian.py).
The robustness options of darts_rl/search/robustness.py (temperature schedule, Beta-Decay,
DARTS-'s auxiliary skip, random smoothing, ScheduledDropPath, learned edge weights, the collapse
monitor of darts_rl/search/monitor.py with early stopping and DARTS-ADA) all live behind these
methods; see docs/robust_search.md.
Shared by PPO, Rainbow and SAC. Gradients are averaged over devices with one axis name.
"""

import functools
from typing import Any, Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from darts_rl import parallel
from darts_rl.search import alphas as alphas_lib
from darts_rl.search import hessian, robustness
from darts_rl.search import monitor as monitor_lib

# loss_fn(params, alphas, batch) -> (scalar loss, aux dict of scalars)
LossFn = Callable


def make_optimizer(cfg) -> optax.GradientTransformation:
  """cfg: lr, eps, max_grad_norm (<= 0: no clipping)."""
  tx = optax.adam(cfg.lr, eps=cfg.eps)
  if cfg.max_grad_norm and cfg.max_grad_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), tx)
  return tx


def _apply(tx: optax.GradientTransformation, tree, opt_state, g, axis_name: Optional[str]):
  """Averages g over devices and takes one optimizer step: -> (tree, opt_state, g)."""
  g = parallel.pmean(g, axis_name)
  updates, opt_state = tx.update(g, opt_state, tree)
  return optax.apply_updates(tree, updates), opt_state, g


def _smoothing_key(key):
  """The noise key of random smoothing, from the update's key (the same in `update` and in the
  accumulation pieces, so the noise does not depend on how a minibatch is split)."""
  return jax.random.split(key)[0]


def _drop_key(key):
  """ScheduledDropPath's key, from the update's key."""
  return jax.random.fold_in(key, 2)


def probe_key(key):
  """The monitor's start-vector key, from the update's key."""
  return jax.random.split(key)[1]


class ArchState(NamedTuple):
  """The arch optimizer's state: `arch_opt_state` in the agents' learner states."""

  tx: Any  # optax state of the trainable alphas (op alphas, edge logits)
  updates: jnp.ndarray  # int32 []: arch updates so far (schedules, monitor cadence)
  schedule_start: Dict  # the scheduled values at the start ({} when none)
  monitor: monitor_lib.MonitorState  # the collapse monitor, early stopping, DARTS-ADA
  # int32 []: the run's arch updates as planned, progress = updates / planned (total_arch_updates;
  # after a resume, those done plus those still to come: `replan`; 0: no progress)
  planned: jnp.ndarray


class DualState(NamedTuple):
  """What `DualOptimizer` updates: the weights, the alphas and both optimizer states. PPO's
  learner state is one; Rainbow's and SAC's hold these four fields among others (`of`,
  `into`)."""

  params: Any
  alphas: Any
  opt_state: Any  # the weight optimizer's state
  arch_opt_state: ArchState

  @classmethod
  def of(cls, learner) -> "DualState":
    """The four fields of a learner state that has them."""
    return cls(*(getattr(learner, f) for f in cls._fields))

  def into(self, learner):
    """`learner` with these four fields."""
    return learner._replace(**self._asdict())


class DualOptimizer:
  """The weight optimizer (the agent's) and the architecture-weight optimizer (config.arch).

  All methods are pure functions of their arguments (safe inside jit and mapped steps);
  `key` (the same on every device) feeds the options that draw random numbers (smoothing,
  drop path, the monitor's start vector). With fixed encoders the alphas are `{}` and every
  alpha step and option is a no-op.
  `total_arch_updates` (the run's number of alpha steps) is needed by the options that follow
  the search's progress (temperature schedule, aux_skip, beta_decay) when searching.
  """

  def __init__(
    self,
    weight_tx: optax.GradientTransformation,
    arch_config,
    total_arch_updates: Optional[int] = None,
    joint_clip: float = 0.0,
    temperature: float = 1.0,
  ):
    self.options = robustness.SearchOptions.from_config(arch_config)
    self.weight_tx = weight_tx
    # joint_clip > 0: weights and alphas clipped together by this global norm (their own
    # optimizers then do not clip); see from_config.
    self.joint_clip = joint_clip
    self.arch_tx = (
      optax.adam(arch_config.optimizer.lr, eps=arch_config.optimizer.eps)
      if joint_clip
      else make_optimizer(arch_config.optimizer)
    )
    self.total_arch_updates = total_arch_updates
    # The mixing temperature (encoder.temperature) unless the alphas carry a scheduled one:
    # random smoothing perturbs softmax(alpha / T).
    self.temperature = temperature

  @classmethod
  def from_config(
    cls,
    weight_config,
    arch_config,
    total_arch_updates: Optional[int] = None,
    temperature: float = 1.0,
  ):
    """The agents' constructor: weight_config (lr, eps, max_grad_norm) and config.arch.

    In joint mode with `arch.clip_together` (the default, as released: one optimizer over all
    trainable variables, alphas included, clipped by one global norm), the weight and alpha
    gradients are clipped together by the weight optimizer's max_grad_norm; otherwise each
    optimizer clips its own pytree (arch.optimizer.max_grad_norm for the alphas)."""
    o = robustness.SearchOptions.from_config(arch_config)
    together = o.mode == "joint" and o.clip_together and (weight_config.max_grad_norm or 0) > 0
    if not together:
      return cls(
        make_optimizer(weight_config), arch_config, total_arch_updates, temperature=temperature
      )
    return cls(
      optax.adam(weight_config.lr, eps=weight_config.eps),
      arch_config,
      total_arch_updates,
      joint_clip=float(weight_config.max_grad_norm),
      temperature=temperature,
    )

  @property
  def mode(self) -> str:
    return self.options.mode

  @staticmethod
  def trainable(alphas):
    """The part of the alphas that alpha gradients cover (without the scheduled values)."""
    return alphas_lib.split(alphas)[0]

  @property
  def needs_arch_batch(self) -> bool:
    """Whether `update` needs `arch_batch`, a second minibatch for the alpha step."""
    return self.mode != "joint"

  def init(self, params, alphas) -> DualState:
    """The state before the first update. For a supernet's alphas, raises ValueError when they
    lack (or have) the entries the arch options need (the encoder must come from
    make_encoder(config.encoder, arch=config.arch)) or when a scheduled option has no
    total_arch_updates."""
    trainable, schedule = alphas_lib.split(alphas)
    if alphas:
      self._check_entries(alphas)
      total = self.total_arch_updates
      if self.options.scheduled and not (total and total > 0):
        raise ValueError(
          "arch.temperature_schedule / aux_skip / beta_decay / smoothing_eps / "
          "early_stop_warmup follow the search's progress: build "
          "DualOptimizer(..., total_arch_updates=N) with N >= 1"
        )
    tx = self.arch_tx.init(trainable)
    searching = bool(jax.tree.leaves(trainable))
    arch = ArchState(
      tx,
      jnp.zeros((), jnp.int32),
      schedule,
      monitor_lib.init(self.options, alphas, tx, searching),
      jnp.asarray(self.total_arch_updates or 0, jnp.int32),
    )
    return DualState(params, alphas, self.weight_tx.init(params), arch)

  def _check_entries(self, alphas):
    want = {alphas_lib.EDGES} if self.options.edge_weights == "learned" else set()
    want |= {f"{alphas_lib.SCHEDULE}/{k}" for k in self.options.schedule_start(1.0)}
    have = {alphas_lib.EDGES} & set(alphas)
    have |= {f"{alphas_lib.SCHEDULE}/{k}" for k in alphas.get(alphas_lib.SCHEDULE, {})}
    if want != have:
      raise ValueError(
        f"the alphas carry option entries {sorted(have)} but config.arch needs "
        f"{sorted(want)}: build the encoder with make_encoder(config.encoder, "
        "arch=config.arch)"
      )

  # -- one update of both pytrees
  def update(
    self,
    loss_fn: LossFn,
    state: DualState,
    batch,
    arch_batch=None,
    axis_name: Optional[str] = None,
    key=None,
    probe: Optional[bool] = None,
  ):
    """One step of both pytrees -> (state, aux).

    aux: the loss terms of the weight step, 'loss', 'grad_norm' and 'arch_grad_norm'.
    `arch_batch` is the alpha minibatch of the alternating and second-order modes (ignored in
    joint mode). The collapse monitor, when on, probes before the step: on `arch_batch` when
    there is one (the alphas' loss), else on `batch`; `probe` as in `monitor`.
    """
    trainable, _ = alphas_lib.split(state.alphas)
    searching = bool(jax.tree.leaves(trainable))  # False: a fixed encoder, alpha steps no-ops
    if searching and self.needs_arch_batch and arch_batch is None:
      raise ValueError(
        f"arch.mode={self.mode} needs arch_batch, a second minibatch for the "
        "alpha step (see DualOptimizer.needs_arch_batch)"
      )
    k_probe = None if key is None else probe_key(key)
    state = self.monitor(
      loss_fn, state, batch if arch_batch is None else arch_batch, axis_name, k_probe, probe
    )
    params, alphas, opt_state, arch_opt_state = state
    loss, aux, g, ga = self._grads(loss_fn, params, alphas, batch, key, arch_opt_state)
    if self.joint_clip and searching:
      state, g, ga = self._apply_pair(state, g, ga, axis_name)
    else:
      if self.joint_clip:  # a fixed encoder: the weights alone, clipped by the same norm
        g = optax.clip_by_global_norm(self.joint_clip).update(parallel.pmean(g, axis_name), None)
        g = g[0]
      new_params, opt_state, g = self._apply_weights(
        params, opt_state, g, axis_name, arch_opt_state
      )
      if not searching:
        ga = trainable
      elif self.mode == "alternating":
        ga = self.arch_grads(loss_fn, new_params, alphas, arch_batch)
      elif self.mode == "second_order":
        # The virtual step is the real one (from the state before it), L2 included (DARTS
        # adds its weight decay too).
        ga = self._unrolled_grads(
          loss_fn,
          params,
          alphas,
          state.opt_state,
          self._with_l2(g, params, arch_opt_state),
          batch,
          arch_batch,
          axis_name,
        )
      alphas, arch_opt_state, ga = self.apply_arch(alphas, arch_opt_state, ga, axis_name)
      state = DualState(new_params, alphas, opt_state, arch_opt_state)
    return state, dict(
      aux, loss=loss, grad_norm=optax.tree.norm(g), arch_grad_norm=optax.tree.norm(ga)
    )

  # -- the same update as passes over several calls, for gradient accumulation
  @property
  def accumulates(self) -> bool:
    """Whether the update can be split into passes over chunks (not in second_order mode)."""
    return self.mode != "second_order"

  @property
  def passes(self):
    """The passes of one accumulated update, in order: 'weights' (the weight gradient, and in
    joint mode the alphas' of the same loss), then in alternating mode 'alphas' (the alpha
    gradient on the alpha minibatch with the updated weights). Not in second_order mode,
    which needs both minibatches in one call (`update`)."""
    return ("weights", "alphas") if self.mode == "alternating" else ("weights",)

  def pass_tree(self, state: DualState, part: str):
    """The tree a pass's gradient has (for zeros to sum chunks into)."""
    alphas = self.trainable(state.alphas)
    if part == "alphas":
      return alphas
    return (state.params, alphas) if self.mode == "joint" else state.params

  def pass_grads(self, loss_fn: LossFn, state: DualState, batch, part: str, key=None):
    """One chunk's gradient of pass `part` (a tree like `pass_tree`) and its loss terms. Pass
    the same key to every chunk of one minibatch (the update's key)."""
    if part == "alphas":
      return self.arch_grads(loss_fn, state.params, state.alphas, batch, key), {}
    loss, aux, g, ga = self.grads(
      loss_fn, state.params, state.alphas, batch, key, state.arch_opt_state
    )
    return ((g, ga) if self.mode == "joint" else g), dict(aux, loss=loss)

  def apply_pass(self, state: DualState, grads, part: str, axis_name: Optional[str]):
    """The optimizer step(s) of pass `part` from its summed gradient -> (state, grad norms:
    'grad_norm' and / or 'arch_grad_norm')."""
    if part == "weights" and self.mode == "joint":
      g, ga = grads
      state, g, ga = self._apply_pair(state, g, ga, axis_name)
      return state, {"grad_norm": optax.tree.norm(g), "arch_grad_norm": optax.tree.norm(ga)}
    params, alphas, opt_state, arch_opt_state = state
    if part == "weights":
      params, opt_state, g = self._apply_weights(
        params, opt_state, grads, axis_name, arch_opt_state
      )
      norms = {"grad_norm": optax.tree.norm(g)}
    else:
      alphas, arch_opt_state, ga = self.apply_arch(alphas, arch_opt_state, grads, axis_name)
      norms = {"arch_grad_norm": optax.tree.norm(ga)}
    return DualState(params, alphas, opt_state, arch_opt_state), norms

  # -- the pieces
  def grads(self, loss_fn: LossFn, params, alphas, batch, key=None, arch_opt_state=None):
    """-> (loss, aux, g, ga): the weight gradient and, in joint mode, the alpha gradient of the
    same loss (None in alternating mode, whose alpha gradient needs the updated weights).
    With random smoothing the weight gradient's loss sees perturbed mixing weights (pass the
    same key to every chunk of one minibatch, and the ArchState: the noise follows the search's
    progress), while ga is taken at the alphas themselves (SDARTS). Not in second_order mode."""
    self._reject_second_order("grads", alphas)
    return self._grads(loss_fn, params, alphas, batch, key, arch_opt_state)

  def arch_grads(self, loss_fn: LossFn, params, alphas, batch, key=None):
    """The alpha gradient of the alternating mode (params already updated)."""
    del key
    self._reject_second_order("arch_grads", alphas)
    trainable, schedule = alphas_lib.split(alphas)
    return jax.grad(lambda t: loss_fn(params, alphas_lib.merge(t, schedule), batch)[0])(trainable)

  def apply_arch(self, alphas, arch_opt_state, ga, axis_name: Optional[str]):
    """One alpha step from the alpha gradient ga (Beta-Decay's gradient added) and the
    scheduled values moved to the next update; the monitor may hold the alphas at its
    rollback point (early stopping) or put them back there once (DARTS-ADA; monitor.hold).
    -> (alphas, arch_opt_state, the device-averaged ga with the regularizer's gradient)."""
    s, o = arch_opt_state, self.options
    trainable, schedule = alphas_lib.split(alphas)
    ga = parallel.pmean(ga, axis_name)
    if o.beta_decay > 0:
      ga = optax.tree.add_scale(
        ga,
        o.beta_decay_weight(self._progress(s.updates, s.planned)),
        jax.grad(robustness.beta_decay_loss)(trainable),
      )
    updates, tx = self.arch_tx.update(ga, s.tx, trainable)
    stepped = (
      optax.apply_updates(trainable, updates),
      tx,
      o.schedule(s.schedule_start, self._progress(s.updates + 1, s.planned)),
    )
    (trainable, tx, schedule), m = monitor_lib.hold(
      o, s.monitor, alphas_lib.split, (trainable, s.tx, schedule), stepped
    )
    s = s._replace(tx=tx, updates=s.updates + 1, monitor=m)
    return alphas_lib.merge(trainable, schedule), s, ga

  # -- the collapse monitor
  def monitor(
    self,
    loss_fn: LossFn,
    state: DualState,
    batch,
    axis_name: Optional[str] = None,
    key=None,
    probe: Optional[bool] = None,
  ) -> DualState:
    """Every `arch.eigen_every_updates` arch updates (from the first), the top (algebraically
    largest) eigenvalue of the Hessian of the loss on `batch` w.r.t. the trainable alphas, by
    `arch.eigen_iterations` Lanczos steps, recorded with the early-stopping and DARTS-ADA
    decisions (monitor.record) -> state. `update` calls it; a caller of the accumulation passes
    may call it once per minibatch (on one chunk).

    probe: None decides on the device (a lax.cond on the update count); True / False say it
    is (not) due, decided by a caller that counts the arch updates (`due`). XLA:CPU runs the
    convolutions of a cond branch many times slower than at the top level of a program, so
    the agents compile the step twice and pick one on the host (ProbedStep)."""
    o = self.options
    trainable, schedule = alphas_lib.split(state.alphas)
    if not o.eigen_every_updates or not jax.tree.leaves(trainable):
      return state
    if key is None:
      raise ValueError(
        "arch.eigen_every_updates needs a PRNG key (the power iteration's start):"
        " pass key= to DualOptimizer.update"
      )

    def run_probe(s: ArchState):
      f = lambda t: loss_fn(state.params, alphas_lib.merge(t, schedule), batch)[0]
      lam, _ = hessian.top_eigenvalue(f, trainable, key, o.eigen_iterations, axis_name)
      warmup = o.early_stop_warmup * s.planned
      m = monitor_lib.record(o, s.monitor, lam, state.alphas, s.tx, s.updates, warmup)
      return s._replace(monitor=m)

    s = state.arch_opt_state
    if probe is None:
      due = s.updates % o.eigen_every_updates == 0
      s = jax.lax.cond(due, run_probe, lambda s: s, s)
    elif probe:
      s = run_probe(s)
    return state._replace(arch_opt_state=s)

  def due(self, updates: int) -> bool:
    """Whether the monitor probes before arch update number `updates` (counted from 0)."""
    return monitor_lib.due(self.options, updates)

  def summary(self, alphas, arch_opt_state) -> Dict[str, float]:
    """Log scalars of the arch state (host side; an unreplicated state): 'arch/updates', the
    monitor's (monitor.summary), and with their options 'arch/smoothing_eps',
    'arch/temperature', 'arch/aux_skip', 'arch/beta_decay_weight'. The mixing weights, their
    entropy and the parameter-free share come from space.mixing_summary."""
    s = jax.device_get(arch_opt_state)
    scalar = lambda x: np.ravel(np.asarray(x))[0].item()  # also takes a replicated [D] copy
    out = {"arch/updates": float(scalar(s.updates))}
    o = self.options
    p = self._progress(scalar(s.updates), scalar(s.planned))
    if o.smoothing_eps > 0:
      out["arch/smoothing_eps"] = float(o.smoothing_eps_at(p))
    out.update(monitor_lib.summary(o, s.monitor, scalar))
    _, schedule = alphas_lib.split(jax.device_get(alphas))
    out.update({f"arch/{k}": float(scalar(v)) for k, v in schedule.items()})
    if o.beta_decay > 0:
      out["arch/beta_decay_weight"] = float(o.beta_decay_weight(p))
    return out

  # -- internals
  def _apply_weights(self, params, opt_state, g, axis_name, arch_opt_state):
    """-> (params, opt_state, device-averaged g); the step sees g + l2 w with DARTS-ADA."""
    g = parallel.pmean(g, axis_name)
    params, opt_state, _ = _apply(
      self.weight_tx, params, opt_state, self._with_l2(g, params, arch_opt_state), None
    )
    return params, opt_state, g

  def _apply_pair(self, state: DualState, g, ga, axis_name):
    """Joint mode: one step of both pytrees from (g, ga), clipped together by `joint_clip`
    when set -> (state, device-averaged g, ga), the gradients as averaged, before clipping
    (the logged norms)."""
    params, alphas, opt_state, arch_opt_state = state
    g, ga = parallel.pmean((g, ga), axis_name)
    cg, cga = self._with_l2(g, params, arch_opt_state), ga
    if self.joint_clip:
      (cg, cga), _ = optax.clip_by_global_norm(self.joint_clip).update((cg, cga), None)
    params, opt_state, _ = _apply(self.weight_tx, params, opt_state, cg, None)
    alphas, arch_opt_state, _ = self.apply_arch(alphas, arch_opt_state, cga, None)
    return DualState(params, alphas, opt_state, arch_opt_state), g, ga

  @staticmethod
  def _progress(updates, planned):
    """The search's progress p in [0, 1] after `updates` of `planned` arch updates (0 when
    nothing is planned)."""
    return jnp.where(planned > 0, jnp.minimum(updates / jnp.maximum(planned, 1), 1.0), 0.0)

  def replan(self, state: DualState, remaining: int) -> DualState:
    """The state of a resumed run that will make `remaining` more arch updates (host side, an
    unreplicated state): progress then counts the updates done plus these, so the schedules
    reach their end values at the run's last update. Nothing changes when nothing was planned."""
    s = state.arch_opt_state
    if not int(s.planned):
      return state
    planned = jnp.asarray(int(s.updates) + int(remaining), jnp.int32)
    return state._replace(arch_opt_state=s._replace(planned=planned))

  def _with_l2(self, g, params, arch_opt_state):
    """DARTS-ADA's L2 term: g + l2 w (the gradient of l2 |w|^2 / 2, as SGD's weight_decay)."""
    if not self.options.adaptive_l2 or arch_opt_state is None:
      return g
    return optax.tree.add_scale(g, arch_opt_state.monitor.l2, params)

  def _reject_second_order(self, what: str, alphas):
    if self.mode == "second_order" and jax.tree.leaves(alphas):
      raise ValueError(
        f"arch.mode=second_order needs both minibatches in one call: use "
        f"DualOptimizer.update, not {what} (gradient accumulation, e.g. "
        "ppo.grad_chunks > 1, supports joint and alternating)"
      )

  def _grads(self, loss_fn: LossFn, params, alphas, batch, key, arch_opt_state):
    trainable, schedule = alphas_lib.split(alphas)
    o = self.options
    random = [n for n in ("smoothing_eps", "drop_path") if getattr(o, n) > 0]
    if random and jax.tree.leaves(trainable):
      if key is None or arch_opt_state is None:
        raise ValueError(
          f"arch.{' / '.join(random)} > 0 needs a PRNG key and the ArchState: pass key= (and "
          "arch_opt_state= to grads) to DualOptimizer.update / grads"
        )
      progress = self._progress(arch_opt_state.updates, arch_opt_state.planned)
    else:
      random = []
    if "drop_path" in random:
      prob = o.drop_path_at(progress)
      schedule = dict(schedule, drop_path=prob, drop_key=_drop_key(key))
    f = lambda p, t: loss_fn(p, alphas_lib.merge(t, schedule), batch)
    if "smoothing_eps" in random:
      eps = o.smoothing_eps_at(progress)
      t = alphas_lib.scheduled_temperature(alphas, self.temperature)
      smoothed = robustness.smooth(trainable, _smoothing_key(key), eps, t)
      (loss, aux), g = jax.value_and_grad(f, has_aux=True)(params, smoothed)
      # SDARTS takes the alpha step at the unperturbed point: a second pass in joint mode.
      ga = jax.grad(lambda t: f(params, t)[0])(trainable) if self.mode == "joint" else None
      return loss, aux, g, ga
    if self.mode == "joint":
      (loss, aux), (g, ga) = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(params, trainable)
      return loss, aux, g, ga
    (loss, aux), g = jax.value_and_grad(f, has_aux=True)(params, trainable)
    return loss, aux, g, None

  def _unrolled_grads(
    self, loss_fn: LossFn, params, alphas, opt_state, g, batch, arch_batch, axis_name
  ):
    trainable, schedule = alphas_lib.split(alphas)
    loss_on = lambda b: lambda p, t: loss_fn(p, alphas_lib.merge(t, schedule), b)[0]
    return hessian.unrolled_arch_grad(
      loss_on(batch),
      loss_on(arch_batch),
      params,
      trainable,
      g,
      self.weight_tx,
      opt_state,
      axis_name,
    )


class ProbedStep:
  """A device-mapped learner step compiled once per probe decision of the collapse monitor, so
  that the probe is decided on the host (DualOptimizer.monitor says why: XLA:CPU runs the
  probe's convolutions inside a lax.cond branch tens of times slower: a probing SAC step of
  the cpu search config took about 28 s there and 1.25 s here, on a busy 2-core CPU). Without
  the monitor it is one compiled step.

  fn(*args, probe=bool) makes exactly one arch update per call (it calls DualOptimizer.update
  once). The caller reads the arch updates made so far once (`count`), then passes the running
  count to each call, so the host decides what `s.updates % every == 0` decides on the device.
  """

  def __init__(self, opt: DualOptimizer, devices, fn: Callable, donate=()):
    self._opt = opt
    self._devices = devices
    self.probing = bool(opt.options.eigen_every_updates)
    self._fns = {
      probe: devices.compile(functools.partial(fn, probe=probe), donate=donate)
      for probe in ((False, True) if self.probing else (False,))
    }

  def count(self, arch_opt_state) -> int:
    """The arch updates made so far (read from the devices only when the monitor is on)."""
    return int(self._devices.unreplicate(arch_opt_state.updates)) if self.probing else 0

  def due(self, updates: int) -> bool:
    """Whether the step made after `updates` arch updates probes."""
    return self.probing and self._opt.due(updates)

  def __call__(self, updates: int, *args):
    """The step after `updates` arch updates (`count` plus the calls since)."""
    return self._fns[self.due(updates)](*args)
