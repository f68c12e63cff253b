"""Search-space core: ops, mixing weights, discretization, genotypes, sampler, equivalence."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl import artifacts
from darts_rl.config import encoder_config
from darts_rl.networks import make_encoder
from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops
from darts_rl.search.genotype import Genotype, discretize, sample_genotype

BASE = ops.OP_SETS["base"]  # Conv3x3, Relu, Tanh, SkipConnection, Zero


def test_mixing_weights_hand_computed():
  w = alphas_lib.mixing_weights(jnp.array([0.0, np.log(3.0)]), temperature=1.0)
  np.testing.assert_allclose(w, [0.25, 0.75], rtol=1e-6)
  # T = 2 halves the logits: softmax([0, log 3 / 2]) = [1, sqrt 3] / (1 + sqrt 3).
  w = alphas_lib.mixing_weights(jnp.array([0.0, np.log(3.0)]), temperature=2.0)
  np.testing.assert_allclose(w, np.array([1, np.sqrt(3)]) / (1 + np.sqrt(3)), rtol=1e-6)
  with pytest.raises(ValueError, match="temperature"):
    alphas_lib.mixing_weights(jnp.zeros(2), 0.0)


def test_unknown_op_and_op_set_errors_list_valid_names():
  with pytest.raises(ValueError, match="valid op sets: base, classic"):
    ops.resolve_op_set("fancy")
  with pytest.raises(ValueError, match="unknown op 'Conv7x7'; valid ops: Conv3x3"):
    ops.resolve_op_set(["Conv3x3", "Conv7x7"])
  assert ops.resolve_op_set(["Relu", "Zero"]) == ("Relu", "Zero")


def test_param_free_ops_stride_pool_first():
  x = jnp.arange(2 * 4 * 4 * 1, dtype=jnp.float32).reshape(2, 4, 4, 1) - 10.0
  skip = ops.OPS["SkipConnection"](1, 2)
  y = skip.apply({}, x)
  assert y.shape == (2, 2, 2, 1)
  # SAME 3x3/2 on 4x4 pads one row/col after (TF convention): the top-left window covers
  # rows/cols 0-2; the bottom-right one rows/cols 2-3 plus padding, which is not averaged.
  xn = np.asarray(x)
  np.testing.assert_allclose(y[0, 0, 0, 0], xn[0, :3, :3, 0].mean())
  np.testing.assert_allclose(y[1, 1, 1, 0], xn[1, 2:, 2:, 0].mean())
  relu = ops.OPS["Relu"](1, 2).apply({}, x)
  np.testing.assert_allclose(relu, np.maximum(y, 0))
  zero = ops.OPS["Zero"](1, 2).apply({}, x)
  assert zero.shape == (2, 2, 2, 1) and not np.any(zero)


def _alphas(rows_per_node):
  return {"normal": tuple(jnp.asarray(r, jnp.float32) for r in rows_per_node)}


def test_discretize_hand_written():
  big = 5.0
  a = _alphas(
    [
      [[0, 0, 0, 0, big]],  # node0: Zero wins, runner-up ties -> Conv3x3
      [[0, big, 0, 0, 0], [0, 0, 1.0, 0, 0]],  # node1: Relu(in) strongest, Tanh(node0)
      [[0, 0, 0, 2.0, 0], [3.0, 0, 0, 0, 0], [0, 0, 0, 0, 9.0]],
      [[1.0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 4.0, 0]],
    ]
  )
  g = discretize(a, BASE, k=2)
  cell = g.cell("normal")
  assert cell[0] == (("Conv3x3", 0),)  # node 0 keeps its single edge
  assert cell[1] == (("Relu", 0), ("Tanh", 1))
  # node2: edge (in) Skip p=e^2/(e^2+4), edge node0 Conv p=e^3/(e^3+4), edge node1: all ties.
  assert cell[2] == (("SkipConnection", 0), ("Conv3x3", 1))
  # node3: edges 0 and 1 tie exactly (Conv3x3 at 1.0) -> lower input index wins the tie
  # against... edge 3 (Skip at 4.0) is strongest; then the tie 0 vs 1 goes to input 0.
  assert cell[3] == (("Conv3x3", 0), ("SkipConnection", 3))
  g1 = discretize(a, BASE, k=1)
  assert [len(n) for n in g1.cell("normal")] == [1, 1, 1, 1]
  assert g1.cell("normal")[3] == (("SkipConnection", 3),)


def test_discretize_rejects_wrong_shapes():
  with pytest.raises(ValueError, match="shape"):
    discretize(_alphas([[[0, 0, 0]]]), BASE)


def test_genotype_json_round_trip_and_text():
  g = sample_genotype(np.random.default_rng(1), BASE, ("normal", "reduce"), 4, 2)
  g2 = Genotype.from_json(g.to_json())
  assert g2 == g and hash(g2) == hash(g)
  text = g.describe()
  assert "normal cell:" in text and "reduce cell:" in text and "node3 <-" in text


@pytest.mark.parametrize(
  "mutate,message",
  [
    (lambda d: d["cells"]["normal"][1].__setitem__(0, ["Conv9x9", 0]), "unknown op 'Conv9x9'"),
    (lambda d: d["cells"]["normal"][1].__setitem__(0, ["Conv5x5", 0]), "not in the op set"),
    (lambda d: d["cells"]["normal"][1].__setitem__(0, ["Zero", 0]), "Zero is not a valid"),
    (lambda d: d["cells"]["normal"][1].__setitem__(0, ["Relu", 2]), "input index 2 out of range"),
    (lambda d: d["cells"]["normal"].pop(), "has 3 nodes, expected 4"),
    (lambda d: d["cells"]["normal"][2].__setitem__(1, list(d["cells"]["normal"][2][0])), "twice"),
    (lambda d: d["cells"]["normal"][1].__setitem__(0, ["Relu"]), "not \\[op name, input index\\]"),
    (lambda d: d.__setitem__("format", "other/9"), "format"),
    (lambda d: d.pop("cells"), "lacks cells"),
  ],
)
def test_invalid_genotypes_rejected(mutate, message):
  g = Genotype.make(
    BASE,
    {
      "normal": [
        [["Conv3x3", 0]],
        [["Relu", 0], ["Tanh", 1]],
        [["Conv3x3", 0], ["SkipConnection", 2]],
        [["Relu", 1], ["Conv3x3", 3]],
      ]
    },
  )
  d = json.loads(g.to_json())
  mutate(d)
  with pytest.raises(ValueError, match=message):
    Genotype.from_dict(d)


def test_genotype_fit_checks():
  g = sample_genotype(np.random.default_rng(0), BASE, ("normal",), 4, 2)
  with pytest.raises(ValueError, match="lacks cell types \\['reduce'\\]"):
    g.check_fits(BASE, ("normal", "reduce"), 4)
  with pytest.raises(ValueError, match="nodes per cell"):
    g.check_fits(BASE, ("normal",), 5)
  with pytest.raises(ValueError, match="outside the config's op set"):
    g.check_fits(ops.OP_SETS["classic"], ("normal",), 4)


def test_sampler_valid_and_covers_every_choice():
  rng = np.random.default_rng(0)
  ops_seen, inputs_seen = set(), set()
  for _ in range(300):
    g = sample_genotype(rng, BASE, ("normal",), 4, 2)
    Genotype.from_json(g.to_json())  # validates
    for i, node in enumerate(g.cell("normal")):
      assert len(node) == min(2, i + 1)
      for op, j in node:
        ops_seen.add(op)
        inputs_seen.add((i, j))
  assert ops_seen == set(BASE) - {"Zero"}
  assert inputs_seen == {(i, j) for i in range(4) for j in range(i + 1)}


def _obs(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


@pytest.mark.parametrize(
  "skeleton,op_set,obs_shape",
  [
    ("impala", "base", (2, 64, 64, 3)),
    ("standard", "classic", (2, 64, 64, 3)),
    ("impala", "base", (2, 84, 84, 9)),
  ],
)
def test_supernet_with_one_hot_alphas_equals_fixed_network(tmp_path, skeleton, op_set, obs_shape):
  cfg = encoder_config(
    kind="supernet",
    skeleton=skeleton,
    op_set=op_set,
    channels=(8, 16),
    stem_channels=8 if skeleton == "standard" else 0,
  )
  sup = make_encoder(cfg)
  op_names = sup.space.op_names
  g = sup.space.sample(np.random.default_rng(3))
  # Alphas: 1e4 on the kept op of each kept edge, 1e4 on Zero for dropped edges.
  big = 1e4
  alphas = {}
  for ct in sup.space.cell_types:
    nodes = []
    for i, node in enumerate(g.cell(ct)):
      a = np.zeros((i + 1, len(op_names)), np.float32)
      a[:, op_names.index("Zero")] = big
      for op, j in node:
        a[j] = 0.0
        a[j, op_names.index(op)] = big
      nodes.append(jnp.asarray(a))
    alphas[ct] = tuple(nodes)
  obs = _obs(obs_shape)
  params = sup.module.init(jax.random.PRNGKey(0), obs, alphas)
  path = tmp_path / "genotype.json"
  path.write_text(g.to_json())
  fcfg = encoder_config(**{**cfg.to_dict(), "kind": "fixed", "genotype": str(path)})
  fixed = make_encoder(fcfg, artifacts.encoder_genotype(fcfg))
  fparams_shape = jax.eval_shape(fixed.module.init, jax.random.PRNGKey(1), obs, {})

  # The fixed network's params are the supernet's params with the same names.
  def pick(template, source):
    return {
      k: pick(v, source[k]) if isinstance(v, dict) else source[k] for k, v in template.items()
    }

  fparams = pick(fparams_shape, params)
  out_sup = sup.module.apply(params, obs, alphas)
  out_fix = fixed.module.apply(fparams, obs, {})
  assert out_sup.shape == out_fix.shape == (obs_shape[0], 256)
  np.testing.assert_allclose(out_sup, out_fix, atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_alpha():
  cfg = encoder_config(kind="supernet", skeleton="standard", stem_channels=8, channels=(8, 8))
  sup = make_encoder(cfg)
  obs = _obs((4, 64, 64, 3))
  params = sup.module.init(jax.random.PRNGKey(0), obs, sup.alphas)
  # Random alphas away from the symmetric point, and a loss that is not invariant.
  key = jax.random.PRNGKey(1)
  alphas = jax.tree.map(lambda a: 0.3 * jax.random.normal(key, a.shape), sup.alphas)
  grads = jax.grad(lambda a: jnp.sum(sup.module.apply(params, obs, a) ** 2))(alphas)
  for g in jax.tree.leaves(grads):
    assert np.all(np.isfinite(g))
    assert np.all(np.abs(g) > 0)


@pytest.mark.parametrize(
  "kind,skeleton,obs_shape,out_hw",
  [
    ("impala", "impala", (2, 64, 64, 3), (8, 8, 32)),
    ("supernet", "impala", (2, 64, 64, 3), (8, 8, 32)),
    ("supernet", "standard", (2, 64, 64, 3), (8, 8, 32)),
    ("supernet", "impala", (2, 84, 84, 9), (11, 11, 32)),
    ("supernet", "standard", (2, 84, 84, 9), (11, 11, 32)),
    ("cnn4", "impala", (2, 84, 84, 9), (35, 35, 32)),
  ],
)
def test_trunk_and_feature_shapes(kind, skeleton, obs_shape, out_hw):
  cfg = encoder_config(
    kind=kind,
    skeleton=skeleton,
    channels=(16, 32, 32) if kind != "cnn4" else (32,),
    stem_channels=16 if skeleton == "standard" else 0,
  )
  enc = make_encoder(cfg)
  # Shapes only: traced (jax.eval_shape), nothing compiled or run.
  obs = jax.ShapeDtypeStruct(obs_shape, jnp.uint8)
  params = jax.eval_shape(enc.module.init, jax.random.PRNGKey(0), obs, enc.alphas)
  feats = jax.eval_shape(enc.module.apply, params, obs, enc.alphas)
  assert feats.shape == (2, 256)
  trunk = lambda m, x, a: m.trunk(x, a)  # noqa: E731
  trunk_out = jax.eval_shape(
    lambda p, x: enc.module.apply(p, x.astype(jnp.float32), enc.alphas, method=trunk), params, obs
  )
  assert trunk_out.shape[1:] == out_hw


def test_impala_parameter_count_from_layer_shapes():
  enc = make_encoder(encoder_config(kind="impala"))
  obs = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.uint8)
  params = jax.eval_shape(enc.module.init, jax.random.PRNGKey(0), obs, {})  # shapes only
  n = sum(x.size for x in jax.tree.leaves(params))
  conv = lambda cin, cout: 3 * 3 * cin * cout + cout
  expected, cin = 0, 3
  for ch in (16, 32, 32):
    expected += conv(cin, ch) + 2 * 2 * conv(ch, ch)  # stage conv + 2 blocks x 2 convs
    cin = ch
  expected += 8 * 8 * 32 * 256 + 256  # Dense(256) on the 8x8x32 map
  assert n == expected


def test_partial_channel_supernet_runs_and_grads():
  cfg = encoder_config(kind="supernet", channels=(8, 16), partial_channels=4)
  sup = make_encoder(cfg)
  obs = _obs((2, 64, 64, 3))
  params = jax.jit(sup.module.init)(jax.random.PRNGKey(0), obs, sup.alphas)
  out = jax.jit(sup.module.apply)(params, obs, sup.alphas)
  assert out.shape == (2, 256)
  alphas = jax.tree.map(lambda a: a + 0.1 * jnp.arange(a.shape[-1]), sup.alphas)
  grads = jax.jit(jax.grad(lambda a: jnp.sum(sup.module.apply(params, obs, a) ** 2)))(alphas)
  assert all(np.all(np.abs(g) > 0) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("reduction", [False, True])
def test_partial_channel_cell_equals_per_edge_pc_darts(reduction):
  """The cell sums each node's mixed slices and pass-through parts, then shuffles once; PC-DARTS
  as written (Xu et al. 2020) shuffles every edge's [mixed, rest] and sums them with edge
  normalization (here uniform: the mean over the node's edges): the same numbers."""
  from darts_rl.pooling import max_pool
  from darts_rl.search.cells import SearchCell, channel_shuffle

  P, C, nodes = 4, 16, 3
  cell = SearchCell(C, nodes, reduction=reduction, op_names=BASE, partial_channels=P)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, C))
  alphas = [jax.random.normal(jax.random.PRNGKey(10 + i), (1 + i, len(BASE))) for i in range(nodes)]
  params = cell.init(jax.random.PRNGKey(0), x, alphas)["params"]
  c = C // P

  def edge(i, j, xj, w):  # PC-DARTS edge: mix the first C/P channels, pass the rest, shuffle
    stride = 2 if reduction and j == 0 else 1
    out = sum(
      w[k]
      * ops.OPS[op](c, stride).apply({"params": params[f"node{i}_in{j}"].get(op, {})}, xj[..., :c])
      for k, op in enumerate(BASE)
      if op != ops.ZERO
    )
    rest = max_pool(xj[..., c:], 3, stride) if stride > 1 else xj[..., c:]
    y = jnp.concatenate([out, rest], axis=-1)
    return y.reshape(*y.shape[:-1], P, C // P).swapaxes(-1, -2).reshape(y.shape)

  states = [x]
  for i in range(nodes):
    w = alphas_lib.mixing_weights(alphas[i], 1.0)
    states.append(sum(edge(i, j, states[j], w[j]) for j in range(i + 1)) / (i + 1))
  cat = jnp.concatenate(states[1:], axis=-1)
  want = (
    jnp.einsum("bhwi,io->bhwo", cat, params["output"]["kernel"][0, 0]) + params["output"]["bias"]
  )
  got = cell.apply({"params": params}, x, alphas)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # The shuffle interleaves the P groups: channel g * (C / P) + r lands at r * P + g.
  y = jnp.arange(8.0)
  np.testing.assert_array_equal(channel_shuffle(y, 2), [0, 4, 1, 5, 2, 6, 3, 7])


def test_partial_channel_nodes_stay_at_the_input_scale():
  """Every node averages its edges, so the pass-through parts (scaled by no mixing weight) do
  not double at every node. Skip-only mixing; the output conv set to pick one node."""
  from darts_rl.search.cells import SearchCell

  P, C, nodes = 4, 16, 4
  cell = SearchCell(C, nodes, op_names=("SkipConnection", "Zero"), partial_channels=P)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, C))
  alphas = [jnp.zeros((1 + i, 2)).at[:, 0].set(30.0) for i in range(nodes)]  # Skip weight ~1
  params = cell.init(jax.random.PRNGKey(0), x, alphas)["params"]
  rms = lambda a: float(jnp.sqrt(jnp.mean(a**2)))
  for k in range(nodes):
    pick = jnp.zeros((nodes * C, C)).at[k * C : (k + 1) * C].set(jnp.eye(C))
    node = cell.apply(
      {"params": {**params, "output": {"kernel": pick[None, None], "bias": jnp.zeros(C)}}},
      x,
      alphas,
    )
    assert 0.3 * rms(x) < rms(node) <= 1.001 * rms(x), (k, rms(node), rms(x))


def test_partial_channels_must_divide_channels():
  with pytest.raises(ValueError, match="partial_channels=3 must be >= 1 and divide"):
    make_encoder(encoder_config(kind="supernet", channels=(8, 16), partial_channels=3))


def test_fixed_encoder_errors():
  with pytest.raises(ValueError, match="needs --config.encoder.genotype=PATH/genotype.json"):
    artifacts.encoder_genotype(encoder_config(kind="fixed"))
  with pytest.raises(ValueError, match="cannot read genotype file .*/nonexistent/g.json"):
    artifacts.encoder_genotype(encoder_config(kind="fixed", genotype="/nonexistent/g.json"))
  # Only a fixed encoder has a genotype; the other kinds ignore the path.
  assert artifacts.encoder_genotype(encoder_config(kind="supernet", genotype="/x/g.json")) is None
  with pytest.raises(ValueError, match="kind=fixed needs a parsed genotype"):
    make_encoder(encoder_config(kind="fixed", genotype="/x/g.json"))
  with pytest.raises(ValueError, match="unknown encoder kind 'resnet'; valid kinds"):
    make_encoder(encoder_config(kind="resnet"))


# --- Option entries of the alphas (darts_rl/search/robustness.py).


def _arch(**options):
  from darts_rl.config import adam_config, arch_config

  c = arch_config(adam_config(1e-3))
  c.update(options)
  return c


def test_param_free_share_hand_computed():
  # Uniform weights over the base set: Relu, Tanh, Skip of the four non-Zero ops.
  assert alphas_lib.param_free_share(np.full((3, 5), 0.2), BASE) == pytest.approx(0.75)
  # Edge 1: Conv 0.5, Relu 0.1, Tanh 0.1, Skip 0.1, Zero 0.2 -> 0.3 / 0.8; edge 2: all Skip.
  w = np.array([[0.5, 0.1, 0.1, 0.1, 0.2], [0.0, 0.0, 0.0, 1.0, 0.0]])
  assert alphas_lib.param_free_share(w, BASE) == pytest.approx((0.375 + 1.0) / 2)
  assert ops.PARAMETER_FREE >= {"Relu", "SkipConnection", "Zero", "MaxPool3x3"}
  assert not ops.PARAMETER_FREE & {"Conv3x3", "DilConv5x5Relu"}


@pytest.mark.parametrize("partial_channels", [1, 2])
def test_learned_edge_weights_start_at_todays_supernet_and_get_gradients(partial_channels):
  cfg = encoder_config(
    kind="supernet",
    channels=(4,),
    num_nodes=3,
    cells_per_stage=1,
    partial_channels=partial_channels,
    feature_dim=8,
  )
  plain, learned = make_encoder(cfg), make_encoder(cfg, arch=_arch(edge_weights="learned"))
  assert [e.shape for e in learned.alphas["edges"]["normal"]] == [(1,), (2,), (3,)]
  obs = _obs((2, 8, 8, 3))
  params = jax.jit(plain.module.init)(jax.random.PRNGKey(0), obs, plain.alphas)
  apply_learned, apply_plain = jax.jit(learned.module.apply), jax.jit(plain.module.apply)
  # Zero edge logits: every edge weighs 1 (exact: today's sum; PC-DARTS: today's mean).
  np.testing.assert_allclose(
    apply_learned(params, obs, learned.alphas),
    apply_plain(params, obs, plain.alphas),
    rtol=1e-5,
    atol=1e-6,
  )
  alphas = jax.tree.map(lambda a: a + 0.1 * jnp.arange(a.shape[-1]), learned.alphas)
  g = jax.jit(jax.grad(lambda a: jnp.sum(apply_learned(params, obs, a) ** 2)))(alphas)
  edges = g["edges"]["normal"]
  assert not np.any(edges[0])  # node 0 has one edge: its softmax weight is always 1
  assert all(np.all(np.abs(e) > 0) for e in edges[1:])
  # Non-zero edge logits move the output.
  assert not np.allclose(
    apply_learned(params, obs, alphas),
    apply_learned(params, obs, dict(alphas, edges=learned.alphas["edges"])),
  )


def test_discretize_ranks_edges_by_op_weight_times_edge_weight():
  ln = np.log
  # node1: edge 0's best op Conv3x3 at 0.6 (vs 0.1 each), edge 1's Relu at 0.5 (vs 0.125).
  a = _alphas([[[0, 0, 0, 0, 0]], [[ln(6), 0, 0, 0, 0], [0, ln(4), 0, 0, 0]]])
  assert discretize(a, BASE, k=1).cell("normal")[1] == (("Conv3x3", 0),)
  # Edge weights softmax([0, ln 2]) = [1/3, 2/3]: strengths 0.6 / 3 = 0.2 < 0.5 * 2 / 3.
  a["edges"] = {"normal": (jnp.zeros(1), jnp.array([0.0, ln(2)]))}
  assert discretize(a, BASE, k=1).cell("normal")[1] == (("Relu", 1),)

  # A scheduled temperature in the alphas replaces the argument. Edge 0 = [3, 0, 0, 0, 0] has
  # strength e^3 / (e^3 + 4) = 0.83 at T = 1, edge 1 = [2, 2, 2, 2, -100] 1/4; at T = 100:
  # e^.03 / (e^.03 + 4) = 0.205 against e^.02 / (4 e^.02 + e^-1) = 0.229.
  a = _alphas([[[0, 0, 0, 0, 0]], [[3, 0, 0, 0, 0], [2, 2, 2, 2, -100]]])
  assert discretize(a, BASE, k=1).cell("normal")[1] == (("Conv3x3", 0),)
  assert discretize(a, BASE, k=1, temperature=100.0).cell("normal")[1] == (("Conv3x3", 1),)
  a["schedule"] = {"temperature": jnp.array(100.0)}
  assert discretize(a, BASE, k=1, temperature=1.0).cell("normal")[1] == (("Conv3x3", 1),)


@pytest.mark.parametrize("stride", [1, 2])
def test_aux_skip_adds_beta_times_skip_to_the_mixed_edge(stride):
  from darts_rl.search.cells import Edge

  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 4))
  edge = Edge(4, BASE, stride)
  w = jax.nn.softmax(jnp.arange(5.0))
  params = edge.init(jax.random.PRNGKey(1), x, w)
  diff = edge.apply(params, x, w, 0.3) - edge.apply(params, x, w)
  skip = ops.OPS["SkipConnection"](4, stride).apply({}, x)  # avg-pooled when strided
  np.testing.assert_allclose(diff, 0.3 * skip, rtol=1e-4, atol=1e-6)


def test_scheduled_temperature_travels_with_the_alphas():
  base = dict(kind="supernet", channels=(4,), num_nodes=2, cells_per_stage=1, feature_dim=8)
  hot = make_encoder(encoder_config(temperature=2.0, **base))
  sched = make_encoder(encoder_config(**base), arch=_arch(temperature_schedule="linear"))
  assert float(sched.alphas["schedule"]["temperature"]) == 1.0  # starts at encoder.temperature
  obs = _obs((2, 8, 8, 3))
  params = hot.module.init(jax.random.PRNGKey(0), obs, hot.alphas)
  alphas = jax.tree.map(lambda a: a + jnp.arange(a.shape[-1]) / 2.0, hot.alphas)
  at_2 = dict(alphas, schedule={"temperature": jnp.array(2.0)})
  np.testing.assert_allclose(
    sched.module.apply(params, obs, at_2),
    hot.module.apply(params, obs, alphas),
    rtol=1e-5,
    atol=1e-6,
  )
  # The logged weights use it too.
  summary = sched.space.mixing_summary(at_2, temperature=1.0)
  want = alphas_lib.mixing_weights(alphas["normal"][0][0], 2.0)
  np.testing.assert_allclose([summary[f"normal/n0_in0/{op}"] for op in BASE], want, rtol=1e-6)


def test_option_entries_through_space_history_and_discretize(tmp_path):
  """make_encoder(..., arch) -> alphas and space.init_alphas() with the entries; alphas.npz
  gains 'edges/<cell>/node<i>' and 'schedule/<name>'; the last snapshot reads back whole."""
  from darts_rl import artifacts

  arch = _arch(edge_weights="learned", temperature_schedule="exponential", aux_skip=1.0)
  enc = make_encoder(
    encoder_config(
      kind="supernet", skeleton="standard", stem_channels=4, channels=(4,), num_nodes=2
    ),
    arch=arch,
  )
  assert jax.tree.structure(enc.space.init_alphas()) == jax.tree.structure(enc.alphas)
  assert enc.space.op_names == BASE and enc.space.cell_types == ("normal", "reduce")
  alphas = jax.tree.map(lambda a: a + 0.5 * jnp.arange(a.shape[-1]) if a.ndim else a, enc.alphas)
  hist = artifacts.AlphasWriter(str(tmp_path), BASE, 1.0, None)
  hist.add(0, enc.alphas)
  hist.add(10, alphas)
  with np.load(tmp_path / "alphas.npz") as d:
    assert {
      "edges/normal/node1",
      "edges/reduce/node0",
      "schedule/temperature",
      "schedule/aux_skip",
      "normal/node1",
    } <= set(d.files)
    assert d["schedule/aux_skip"].shape == (2,)
    assert sorted(k for k in d.files if alphas_lib.is_option_key(k)) == sorted(
      k for k in d.files if k.startswith(("edges/", "schedule/"))
    )
  back = artifacts.final_alphas(str(tmp_path), enc.space.init_alphas())
  for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(alphas)):
    np.testing.assert_array_equal(x, y)
  g = enc.space.discretize(back)
  assert g.cell("normal") == discretize(alphas, BASE).cell("normal")
  summary = enc.space.mixing_summary(back)
  assert "normal/n1_in0/edge" in summary and "reduce/param_free" in summary


def test_cell_options_are_rejected_by_the_macro_space():
  cfg = encoder_config(kind="supernet", space="macro")
  with pytest.raises(ValueError, match="arch.edge_weights=learned act on micro-space cells"):
    make_encoder(cfg, arch=_arch(edge_weights="learned"))
  # Optimizer-side options need no entries: the macro alphas stay the space's own.
  spec = make_encoder(cfg, arch=_arch(beta_decay=1.0, smoothing_eps=0.1, mode="second_order"))
  assert set(spec.alphas) == {"downsample", "blocks"}
