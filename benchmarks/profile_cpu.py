"""Where the learner's time goes: FLOPs against throughput, and convolution speed.

  python benchmarks/profile_cpu.py [--batch=256] [--iters=3] [--only=impala,supernet_base]

1. Per encoder: XLA's own FLOP count of one compiled forward+backward step (cost analysis),
   measured samples/s, and the GFLOP/s that makes. When every encoder reaches about the same
   GFLOP/s the step is FLOP bound, and the supernet / IMPALA-CNN throughput ratio is simply the
   inverse of their FLOP ratio: only fewer FLOPs (not layouts or fusion) can raise it.
2. Per encoder, a jax.profiler trace of the same step: time per XLA op kind (convolutions,
   fusions by their kind, transposes ...), largest first -- where the time actually goes.
3. The IMPALA-CNN's convolutions (CleanRL's 16/32/32 channels on 64x64x3), one shape at a time,
   forward+backward in JAX (XLA:CPU) and, with the `bench` extra installed, PyTorch (oneDNN) on
   NCHW tensors and on NHWC memory: GFLOP/s each, and the share of the JAX encoder step these
   convolutions account for.
4. The IMPALA-CNN's three max pools, forward+backward: flax's (select_and_scatter gradient) vs
   darts_rl.pooling's.
5. The same convolutions forward only (what acting runs), JAX against PyTorch given NCHW tensors
   and given NHWC memory (as its networks get from permuted observations: oneDNN's channels-last
   kernels).
Everything is measured in this one process, on the default JAX backend.
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# One trace event per executed XLA op (thunk) on CPU; read when the backend starts.
os.environ["XLA_FLAGS"] = (
  os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
).strip()

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from benchmarks.common import seconds_per_call  # noqa: E402
from benchmarks.encoders import encoders, train_step  # noqa: E402
from darts_rl.pooling import max_pool  # noqa: E402

# (spatial size, channels) of the IMPALA-CNN's 3x3 stride-2 max pools.
IMPALA_POOLS = ((64, 16), (32, 32), (16, 32))
# (spatial size, in channels, out channels, how many the IMPALA-CNN has), 3x3 SAME, stride 1.
IMPALA_CONVS = ((64, 3, 16, 1), (32, 16, 16, 4), (32, 16, 32, 1), (16, 32, 32, 5), (8, 32, 32, 4))


def xla_flops(jitted, args) -> float:
  cost = jitted.lower(*args).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


def op_times(jitted, args, iters):
  """{XLA op kind: seconds per call} from a jax.profiler trace of `iters` calls."""
  jax.block_until_ready(jitted(*args))
  with tempfile.TemporaryDirectory() as d:
    options = jax.profiler.ProfileOptions()
    options.host_tracer_level = 3  # per-op events
    with jax.profiler.trace(d, create_perfetto_trace=True, profiler_options=options):
      for _ in range(iters):
        out = jitted(*args)
      jax.block_until_ready(out)
    path = glob.glob(os.path.join(d, "**", "*.trace.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
      events = json.load(f)["traceEvents"]
  kinds = collections.Counter()
  for e in events:
    name = e.get("name", "")
    # Runtime and Python events are not ops; op names end in a number (fusion.12).
    if e.get("ph") != "X" or not re.search(r"[._]\d+$|^[a-z_-]+$", name) or name.startswith("$"):
      continue
    kinds[re.sub(r"[._]?\d+$", "", name)] += e["dur"] * 1e-6 / iters
  return kinds


def pool_seconds(pool, batch, hw, c, iters):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((batch, hw, hw, c), np.float32))
  g = jnp.asarray(rng.standard_normal((batch, hw // 2, hw // 2, c), np.float32))
  return seconds_per_call(jax.jit(jax.grad(lambda x: jnp.sum(g * pool(x)))), (x,), iters)


def conv_flops(batch, hw, cin, cout, input_grad):
  """Forward + weight gradient (+ input gradient): each one multiply-add per kernel tap."""
  return 2 * batch * hw * hw * cin * cout * 9 * (3 if input_grad else 2)


def jax_conv_seconds(batch, hw, cin, cout, input_grad, iters):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((batch, hw, hw, cin), np.float32))
  w = jnp.asarray(rng.standard_normal((3, 3, cin, cout), np.float32) * 0.1)
  g = jnp.asarray(rng.standard_normal((batch, hw, hw, cout), np.float32))

  @jax.jit
  def step(x, w, g):
    f = lambda x, w: jnp.sum(
      g
      * jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
    )
    return jax.grad(f, argnums=(0, 1) if input_grad else 1)(x, w)

  return seconds_per_call(step, (x, w, g), iters)


def torch_conv_seconds(torch, batch, hw, cin, cout, input_grad, iters, channels_last=False):
  """Forward+backward seconds; channels_last: NHWC memory behind NCHW strides (as torch's
  networks get from permuted NHWC observations), else NCHW tensors."""
  gen = torch.Generator().manual_seed(0)
  if channels_last:
    x = (
      torch.randn(batch, hw, hw, cin, generator=gen).permute(0, 3, 1, 2).requires_grad_(input_grad)
    )
    g = torch.randn(batch, hw, hw, cout, generator=gen).permute(0, 3, 1, 2)
  else:
    x = torch.randn(batch, cin, hw, hw, generator=gen, requires_grad=input_grad)
    g = torch.randn(batch, cout, hw, hw, generator=gen)
  w = torch.randn(cout, cin, 3, 3, generator=gen, requires_grad=True)

  def step():
    w.grad = None
    torch.nn.functional.conv2d(x, w, padding=1).backward(g)

  return seconds_per_call(step, (), iters)


def conv_forward_seconds(batch, hw, cin, cout, iters, torch=None, channels_last=False):
  """Seconds per forward-only 3x3 SAME convolution: JAX (NHWC), or torch (NCHW tensors, or
  NHWC memory behind NCHW strides: what `obs.permute(0, 3, 1, 2)` feeds torch's networks)."""
  rng = np.random.default_rng(0)
  x = rng.standard_normal((batch, hw, hw, cin), np.float32)
  w = rng.standard_normal((3, 3, cin, cout), np.float32)
  if torch is None:
    f = jax.jit(
      lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
    )
    return seconds_per_call(f, (jnp.asarray(x), jnp.asarray(w)), iters)
  xt = torch.from_numpy(x).permute(0, 3, 1, 2)
  xt = xt if channels_last else xt.contiguous()
  wt = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()

  def step():
    with torch.no_grad():
      torch.nn.functional.conv2d(xt, wt, padding=1)

  return seconds_per_call(step, (), iters)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=256)
  ap.add_argument("--iters", type=int, default=3)
  ap.add_argument(
    "--only",
    default="impala,supernet_base,supernet_base_pc4",
    help="encoders of benchmarks/encoders.py for part 1",
  )
  ap.add_argument("--no_torch", action="store_true")
  ap.add_argument("--top", type=int, default=8, help="op kinds listed per encoder in part 2")
  args = ap.parse_args()
  torch = None
  if not args.no_torch:
    try:
      import torch
    except ImportError:
      print("torch not installed (pip install -e '.[bench]'): PyTorch columns skipped")
  print(
    f"backend={jax.default_backend()} batch={args.batch} iters={args.iters}"
    + (f" torch={torch.__version__} threads={torch.get_num_threads()}" if torch else "")
  )

  print("\n1. encoder forward+backward: XLA FLOPs vs throughput")
  print(
    f"{'encoder':20s} {'GFLOP/sample':>13s} {'samples/s':>10s} {'GFLOP/s':>8s} "
    f"{'FLOPs/impala':>13s} {'speed/impala':>13s}"
  )
  rows, impala_step_s = {}, None
  for name, (cfg, g) in encoders().items():
    if name not in args.only.split(","):
      continue
    step, step_args = train_step(cfg, g, args.batch)
    flops = xla_flops(step, step_args) / args.batch
    sec = seconds_per_call(step, step_args, args.iters)
    rows[name] = (flops, args.batch / sec)
    if name == "impala":
      impala_step_s = sec
    base = rows.get("impala", rows[name])
    print(
      f"{name:20s} {flops / 1e9:13.3f} {args.batch / sec:10.1f} "
      f"{flops * args.batch / sec / 1e9:8.1f} "
      f"{flops / base[0]:13.2f} {args.batch / sec / base[1]:13.3f}",
      flush=True,
    )

  print("\n2. where the step's time goes (jax.profiler trace), top op kinds")
  for name, (cfg, g) in encoders().items():
    if name not in rows:
      continue
    step, step_args = train_step(cfg, g, args.batch)
    kinds = op_times(step, step_args, args.iters)
    total = sum(kinds.values())
    top = ", ".join(f"{k} {v / total:.0%}" for k, v in kinds.most_common(args.top))
    print(f"{name:20s} {total * 1e3:8.1f} ms in ops: {top}", flush=True)

  print(
    "\n3. IMPALA-CNN convolutions, forward+backward (3x3 SAME; no input gradient for the "
    "first), GFLOP/s"
  )
  print(
    f"{'HxW':>5s} {'cin':>4s} {'cout':>4s} {'count':>5s} {'jax ms':>8s} {'jax GF/s':>9s}"
    + (f" {'torch ms':>9s} {'torch GF/s':>10s} {'torch/jax':>9s} {'NHWC ms':>8s}" if torch else "")
  )
  jax_total = torch_total = torch_nhwc_total = 0.0
  for hw, cin, cout, count in IMPALA_CONVS:
    first = cin == 3
    flops = conv_flops(args.batch, hw, cin, cout, not first)
    js = jax_conv_seconds(args.batch, hw, cin, cout, not first, args.iters)
    jax_total += js * count
    line = f"{hw:5d} {cin:4d} {cout:4d} {count:5d} {js * 1e3:8.1f} {flops / js / 1e9:9.1f}"
    if torch:
      ts = torch_conv_seconds(torch, args.batch, hw, cin, cout, not first, args.iters)
      torch_total += ts * count
      tn = torch_conv_seconds(torch, args.batch, hw, cin, cout, not first, args.iters, True)
      torch_nhwc_total += tn * count
      line += f" {ts * 1e3:9.1f} {flops / ts / 1e9:10.1f} {js / ts:9.2f} {tn * 1e3:8.1f}"
    print(line, flush=True)
  print(
    f"all 15 convolutions: jax {jax_total * 1e3:.1f} ms"
    + (
      f", torch {torch_total * 1e3:.1f} ms (torch {jax_total / torch_total:.2f}x faster); "
      f"torch on NHWC memory {torch_nhwc_total * 1e3:.1f} ms "
      f"({jax_total / torch_nhwc_total:.2f}x)"
      if torch
      else ""
    )
  )
  if impala_step_s:
    print(
      f"share of the JAX IMPALA encoder step (part 1, {impala_step_s * 1e3:.1f} ms) spent in "
      f"its convolutions: {jax_total / impala_step_s:.0%}"
    )

  print("\n4. IMPALA-CNN max pools (3x3, stride 2), forward+backward, ms")
  flax_pool = lambda x: nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
  for hw, c in IMPALA_POOLS:
    ref = pool_seconds(flax_pool, args.batch, hw, c, args.iters)
    ours = pool_seconds(lambda x: max_pool(x, 3, 2), args.batch, hw, c, args.iters)
    print(
      f"{hw}x{hw}x{c}: flax {ref * 1e3:.1f}  darts_rl.pooling {ours * 1e3:.1f}  ({ref / ours:.1f}x)"
    )

  # Acting (rollouts) runs forward passes only; torch's networks see NHWC memory (the
  # observations permuted), for which oneDNN picks its channels-last kernels.
  print("\n5. IMPALA-CNN convolutions, forward only, ms (torch: NCHW tensors / NHWC memory)")
  totals = np.zeros(3)
  for hw, cin, cout, count in IMPALA_CONVS:
    ms = [conv_forward_seconds(args.batch, hw, cin, cout, 4 * args.iters) * 1e3]
    if torch:
      ms += [
        conv_forward_seconds(args.batch, hw, cin, cout, 4 * args.iters, torch, cl) * 1e3
        for cl in (False, True)
      ]
    totals[: len(ms)] += np.asarray(ms) * count
    print(
      f"{hw}x{hw} {cin}->{cout} x{count}: jax {ms[0]:.2f}"
      + (
        f"  torch {ms[1]:.2f} / {ms[2]:.2f}  (jax / torch NHWC {ms[0] / ms[2]:.2f})"
        if torch
        else ""
      ),
      flush=True,
    )
  print(
    f"all 15: jax {totals[0]:.1f}"
    + (
      f", torch {totals[1]:.1f} / {totals[2]:.1f} (jax / torch NHWC {totals[0] / totals[2]:.2f})"
      if torch
      else ""
    )
  )


if __name__ == "__main__":
  main()
