"""The cheaper supernet step: fused edges (same parameters, same numbers as one conv per edge)
and the bfloat16 compute option (float32 parameters, small drift)."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from darts_rl import artifacts
from darts_rl.config import encoder_config
from darts_rl.networks import make_encoder
from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops
from darts_rl.search.cells import FixedCell, SearchCell


def _obs(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def _eqns(jaxpr):
  """Every equation of a jaxpr, nested ones (pjit, custom_vjp, ...) included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for v in eqn.params.values():
      for sub in v if isinstance(v, (tuple, list)) else (v,):
        sub = getattr(sub, "jaxpr", sub)
        if hasattr(sub, "eqns"):
          yield from _eqns(sub)


def _conv_input_dtypes(fn, *args):
  """The input dtype of every convolution fn(*args) runs, in order."""
  jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
  return [
    str(e.invars[0].aval.dtype) for e in _eqns(jaxpr) if e.primitive.name == "conv_general_dilated"
  ]


def _assert_trees_close(a, b, atol):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=atol)


def _assert_grads_close(a, b):
  """Gradients equal up to float32 summation order: atol 1e-5 on a leaf of unit scale, 1e-5 of
  the leaf's largest magnitude on a larger one. A kernel gradient element is a sum over batch
  and pixels whose error follows the size of its terms, not of the (possibly cancelling) sum:
  an element of 0.27 in a leaf of magnitude 50 differed by 1.7e-5 on one CPU model and not on
  another; a wrong gradient is off by O(1) of the leaf's scale."""
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    scale = max(1.0, float(np.max(np.abs(y))))
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("kernel,dilation,stride", [(3, 1, 1), (5, 2, 2)])
def test_conv_op_has_flax_convs_parameters_and_output(kernel, dilation, stride):
  """ops.Conv creates its params with ConvParams and applies them with same_conv: the tree,
  the initial values and the output of an nn.Conv named `conv` (checkpoints stay readable)."""

  class FlaxConv(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Conv(
        6,
        (kernel, kernel),
        (stride, stride),
        padding="SAME",
        kernel_dilation=(dilation, dilation),
        name="conv",
      )(x)

  x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 7, 3))
  ours, theirs = ops.Conv(6, kernel, stride, dilation), FlaxConv()
  params = ours.init(jax.random.PRNGKey(1), x)
  _assert_trees_close(params, theirs.init(jax.random.PRNGKey(1), x), atol=0)
  assert params["params"]["conv"]["kernel"].shape == (kernel, kernel, 3, 6)
  np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), atol=1e-6)


def _cell_alphas(num_nodes, num_ops, options):
  """Random op alphas; with `options` also learned edge logits, a scheduled temperature and
  DARTS-'s auxiliary skip weight (the alphas' option entries)."""
  key = lambda i: jax.random.PRNGKey(100 + i)
  op_alphas = tuple(jax.random.normal(key(i), (1 + i, num_ops)) for i in range(num_nodes))
  if not options:
    return op_alphas
  edges = tuple(jax.random.normal(key(50 + i), (1 + i,)) for i in range(num_nodes))
  return alphas_lib.CellAlphas(op_alphas, edges, jnp.float32(1.7), jnp.float32(0.4))


# Each pair of (op set, exact / PC-DARTS, normal / reduction) values occurs once.
@pytest.mark.parametrize(
  "op_set,partial_channels,reduction",
  [("base", 1, False), ("classic", 1, True), ("base", 4, True), ("classic", 4, False)],
)
def test_fused_cell_equals_per_edge_cell(op_set, partial_channels, reduction):
  """Same parameter tree (names, order, initial values); same output and same gradients
  w.r.t. params and alphas (op alphas and learned edge logits), on the exact and the
  PC-DARTS path, normal and reduction cells, with every option entry on."""
  names, nodes = ops.OP_SETS[op_set], 3
  kw = dict(reduction=reduction, op_names=names, partial_channels=partial_channels)
  fused, per_edge = SearchCell(8, nodes, **kw), SearchCell(8, nodes, fused_edges=False, **kw)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))  # 4 channels: preprocess too
  alphas = _cell_alphas(nodes, len(names), options=True)
  params = jax.jit(fused.init)(jax.random.PRNGKey(0), x, alphas)
  reference = jax.jit(per_edge.init)(jax.random.PRNGKey(0), x, alphas)
  _assert_trees_close(params, reference, atol=0)
  assert list(params["params"]) == list(reference["params"])  # the same order in checkpoints

  def loss_and_grads(cell):
    loss = lambda p, a: jnp.sum(jnp.sin(cell.apply(p, x, a)))  # not invariant to anything
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, alphas)

  (l_fused, g_fused), (l_ref, g_ref) = loss_and_grads(fused), loss_and_grads(per_edge)
  np.testing.assert_allclose(l_fused, l_ref, rtol=1e-5)
  _assert_grads_close(g_fused, g_ref)
  assert all(np.any(g != 0) for g in jax.tree.leaves(g_fused[1].ops))
  plain = _cell_alphas(nodes, len(names), options=False)  # a plain tuple of node arrays
  outs = [jax.jit(c.apply)(params, x, plain) for c in (fused, per_edge)]
  np.testing.assert_allclose(*outs, atol=1e-5)


@pytest.mark.parametrize(
  "op_set,fused_convs,per_edge_convs",
  [
    ("base", 4, 10),  # one Conv3x3 per state / per edge (4 states, 10 edges)
    ("classic", 16, 40),  # 4 geometries (3x3, 5x5, dilated 3x3 and 5x5)
    (["Conv3x3", "Conv3x3Relu", "Relu", "Zero"], 4, 20),  # one geometry: ReLU after the split
  ],
)
def test_fused_supernet_runs_one_conv_per_state_and_geometry(op_set, fused_convs, per_edge_convs):
  """make_encoder's encoder.fused_edges reaches the cells: a cell of 4 nodes runs one conv
  per state and conv geometry instead of one per edge and conv op, plus the stage conv and
  the cell's 1x1 output conv; the features are the same."""
  config = lambda fused_edges: ml_collections.ConfigDict(
    dict(
      encoder_config(
        kind="supernet", channels=(4,), cells_per_stage=1, feature_dim=8, fused_edges=fused_edges
      ).to_dict(),
      op_set=op_set,
    )
  )
  fused, per_edge = make_encoder(config(True)), make_encoder(config(False))
  obs = _obs((2, 8, 8, 3))
  alphas = jax.tree.map(
    lambda a: jax.random.normal(jax.random.PRNGKey(a.size), a.shape), fused.alphas
  )
  params = fused.module.init(jax.random.PRNGKey(0), obs, alphas)
  convs = lambda enc: len(_conv_input_dtypes(lambda p: enc.module.apply(p, obs, alphas), params))
  assert convs(fused) == 2 + fused_convs
  assert convs(per_edge) == 2 + per_edge_convs
  np.testing.assert_allclose(
    fused.module.apply(params, obs, alphas), per_edge.module.apply(params, obs, alphas), atol=1e-5
  )


# A kept-edge cell covering what fusing can meet: two 3x3 convs leaving the cell input (one
# conv), two geometries leaving node 0 (3x3 twice and a dilated 5x5: two convs), a skip shared
# by two edges, a Zero edge, a pool, and nodes of 1 to 4 edges.
FIXED_CELL = (
  (("Conv3x3", 0),),
  (("Conv3x3", 0), ("Conv3x3Relu", 1)),
  (("DilConv5x5Relu", 1), ("SkipConnection", 0), ("MaxPool3x3", 2)),
  (("Conv3x3", 1), ("SkipConnection", 0), ("Conv3x3Relu", 2), ("Zero", 3)),
)


@pytest.mark.parametrize("reduction", [False, True])
def test_fused_fixed_cell_equals_per_edge_cell(reduction):
  """A genotype's cell with fused edges: the per-edge cell's parameter tree (names, order,
  initial values), output and gradients, from 4 convolutions instead of 6 (+ the 1x1s)."""
  fused = FixedCell(8, len(FIXED_CELL), reduction, cell=FIXED_CELL)
  per_edge = FixedCell(8, len(FIXED_CELL), reduction, cell=FIXED_CELL, fused_edges=False)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 4))  # 4 channels: preprocess too
  params = fused.init(jax.random.PRNGKey(0), x)
  reference = per_edge.init(jax.random.PRNGKey(0), x)
  _assert_trees_close(params, reference, atol=0)
  assert list(params["params"]) == list(reference["params"])  # the same order in checkpoints
  loss = lambda cell: lambda p: jnp.sum(jnp.sin(cell.apply(p, x)))
  (l_fused, g_fused), (l_ref, g_ref) = (
    jax.value_and_grad(loss(c))(params) for c in (fused, per_edge)
  )
  np.testing.assert_allclose(l_fused, l_ref, rtol=1e-5)
  _assert_grads_close(g_fused, g_ref)
  convs = lambda cell: len(_conv_input_dtypes(lambda p: cell.apply(p, x), params))
  assert (convs(fused), convs(per_edge)) == (2 + 4, 2 + 6)


def test_fixed_encoder_takes_fused_edges_from_the_config():
  """encoder.fused_edges reaches a genotype's cells: the same features either way."""
  cfg = lambda fused: encoder_config(
    kind="fixed", channels=(4,), cells_per_stage=1, feature_dim=8, fused_edges=fused
  )
  space = make_encoder(encoder_config(kind="supernet", channels=(4,), cells_per_stage=1)).space
  genotype = space.sample(np.random.default_rng(3))
  fused, per_edge = (make_encoder(cfg(f), genotype=genotype) for f in (True, False))
  obs = _obs((2, 8, 8, 3))
  params = fused.module.init(jax.random.PRNGKey(0), obs, {})
  convs = lambda enc: len(_conv_input_dtypes(lambda p: enc.module.apply(p, obs, {}), params))
  assert convs(fused) < convs(per_edge)
  np.testing.assert_allclose(
    fused.module.apply(params, obs, {}), per_edge.module.apply(params, obs, {}), atol=1e-5
  )


BF16_ENCODERS = {
  "impala": dict(kind="impala", channels=(4, 8)),
  "cnn4": dict(kind="cnn4", channels=(4,), head="sac", head_norm="frn"),
  "supernet": dict(
    kind="supernet", op_set="classic", channels=(4, 8), cells_per_stage=1, num_nodes=2
  ),
  "supernet_pc": dict(
    kind="supernet",
    skeleton="standard",
    stem_channels=4,
    channels=(4,),
    cells_per_stage=1,
    num_nodes=2,
    partial_channels=2,
  ),
  "macro": dict(kind="supernet", space="macro", channels=(4, 8), cells_per_stage=1),
  "fixed": dict(kind="fixed", channels=(4, 8), cells_per_stage=1, num_nodes=2),
}
# bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 0.2 %): through these few
# layers the features drift by about 1 % of their largest value; the bound leaves 3x room.
FEATURE_DRIFT = 0.03


def _bf16_pair(name):
  kw = dict(BF16_ENCODERS[name], feature_dim=16)
  genotype = None
  if kw["kind"] == "fixed":
    genotype = make_encoder(encoder_config(**dict(kw, kind="supernet"))).space.sample(
      np.random.default_rng(0)
    )
  return tuple(
    make_encoder(encoder_config(compute_dtype=dtype, **kw), genotype=genotype)
    for dtype in ("float32", "bfloat16")
  )


@pytest.mark.parametrize("name", sorted(BF16_ENCODERS))
def test_bfloat16_encoder_convs_in_bf16_params_and_features_float32(name):
  f32, bf16 = _bf16_pair(name)
  obs = _obs((2, 16, 16, 3))
  params = bf16.module.init(jax.random.PRNGKey(0), obs, bf16.alphas)
  assert {str(p.dtype) for p in jax.tree.leaves(params)} == {"float32"}
  _assert_trees_close(params, f32.module.init(jax.random.PRNGKey(0), obs, f32.alphas), atol=0)
  dtypes = _conv_input_dtypes(lambda p: bf16.module.apply(p, obs, bf16.alphas), params)
  assert dtypes and set(dtypes) == {"bfloat16"}, dtypes
  assert set(_conv_input_dtypes(lambda p: f32.module.apply(p, obs, f32.alphas), params)) == {
    "float32"
  }
  want, got = (e.module.apply(params, obs, e.alphas) for e in (f32, bf16))
  assert got.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(got - want))) <= FEATURE_DRIFT * float(jnp.max(jnp.abs(want)))


# One Adam step on a fixed batch: the losses before and after agree to this fraction (they
# differ by about 0.1 %).
LOSS_DRIFT = 0.005


@pytest.mark.parametrize("name", ["impala", "supernet"])
def test_bfloat16_gradient_step_matches_float32(name):
  """A float32 linear head with a cross-entropy on the encoder's features (as the agents'
  heads are): the loss before and after one Adam step agrees with float32's, the gradients
  (params and alphas), the params and the optimizer state stay float32, and the alphas'
  gradients point about the same way."""
  kw = dict(channels=(4,), cells_per_stage=1, feature_dim=16)
  if name == "supernet":
    kw.update(kind="supernet", num_nodes=2)
  f32, bf16 = (make_encoder(encoder_config(compute_dtype=d, **kw)) for d in ("float32", "bfloat16"))
  obs = _obs((8, 16, 16, 3))
  labels = jnp.arange(8) % 4
  head = jax.random.normal(jax.random.PRNGKey(7), (16, 4)) / 4.0
  alphas = jax.tree.map(
    lambda a: 0.5 * jax.random.normal(jax.random.PRNGKey(a.size), a.shape), f32.alphas
  )
  params = f32.module.init(jax.random.PRNGKey(0), obs, alphas)
  opt = optax.adam(1e-3)
  state = opt.init((params, alphas))

  def step(enc):
    def loss(pa):
      logits = enc.module.apply(pa[0], obs, pa[1]) @ head
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss_and_grads = jax.jit(jax.value_and_grad(loss))
    before, grads = loss_and_grads((params, alphas))
    updates, new_state = opt.update(grads, state, (params, alphas))
    new = optax.apply_updates((params, alphas), updates)
    return before, loss_and_grads(new)[0], grads, new, new_state

  (b32, a32, g32, _, _), (b16, a16, g16, new, new_state) = step(f32), step(bf16)
  np.testing.assert_allclose(b16, b32, rtol=LOSS_DRIFT)
  np.testing.assert_allclose(a16, a32, rtol=LOSS_DRIFT)
  assert a32 < b32 and a16 < b16  # a descent step in both
  for tree in (g16, new, new_state):
    assert {str(x.dtype) for x in jax.tree.leaves(tree)} <= {"float32", "int32"}
  if name == "supernet":
    # An alpha's gradient is a difference of nearly equal op contributions, so bfloat16's
    # rounding weighs more there: cosine 0.97 with float32's here.
    a, b = (jnp.concatenate([x.ravel() for x in jax.tree.leaves(g[1])]) for g in (g32, g16))
    assert float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b))) > 0.9


def test_compute_dtype_and_saved_configs():
  with pytest.raises(
    ValueError,
    match=r"unknown encoder.compute_dtype 'float16'; valid: "
    r"float32, bfloat16$",
  ):
    make_encoder(encoder_config(kind="supernet", compute_dtype="float16"))
  # A config saved before fused_edges / compute_dtype existed builds today's encoder, once
  # read through the one upgrade of old config.json files.
  d = encoder_config(kind="supernet", channels=(4,), cells_per_stage=1).to_dict()
  del d["fused_edges"], d["compute_dtype"]
  d = artifacts.upgrade_config({"encoder": json.loads(json.dumps(d))})["encoder"]
  trunk = make_encoder(ml_collections.ConfigDict(d)).module.trunk
  cell = trunk.cell_fn("normal", 4, "cell")
  assert cell.fused_edges and cell.dtype == jnp.float32
