"""How much the second-order term changes when the virtual step is the weight optimizer's own.

  python benchmarks/second_order_step.py [--warm_steps=10] [--seed=0]
On the PPO demo search (experiments/ppo_procgen.py:search,demo: 8/16/16 supernet, 64x64 frames,
minibatches of 64 steps x 32 envs / 4, Adam lr 5e-4, eps 1e-5, clipping 0.5) with PPO's loss on
random frames and advantages: Adam's moments are warmed by `--warm_steps` steps on other random
minibatches, then on minibatches A (weights) and B (alphas) it prints
- the virtual step's norm: Adam's update ||U(g)|| against DARTS's SGD form ||xi g||, xi = lr;
- the alpha gradient's term through the virtual step (hessian.unrolled_arch_grad minus
  grad_a L_B(w', a)), with Adam's step and with w - xi g, against grad_a L_B(w', a) itself.
A measurement, not a test: the figures go to docs/robust_search.md with this command.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from benchmarks.common import synthetic_spec  # noqa: E402
from darts_rl import parallel  # noqa: E402
from darts_rl.agents import make_agent  # noqa: E402
from darts_rl.envs.base import DiscreteActions  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402
from darts_rl.search import alphas as alphas_lib  # noqa: E402
from darts_rl.search import hessian  # noqa: E402
from experiments.ppo_procgen import get_config  # noqa: E402


def minibatch(rng, size, shape, num_actions):
  """A PPO minibatch of random frames, actions and advantages (normalized by the loss)."""
  adv = rng.normal(size=size).astype(np.float32)
  values = rng.normal(size=size).astype(np.float32)
  return {
    "obs": rng.integers(0, 256, (size,) + shape, dtype=np.uint8),
    "actions": rng.integers(0, num_actions, size).astype(np.int32),
    "logp": np.full(size, -np.log(num_actions), np.float32),
    "values": values,
    "adv": adv,
    "returns": adv + values,
    "adv_mean": np.float32(adv.mean()),
    "adv_std": np.float32(adv.std()),
  }


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--warm_steps", type=int, default=10)
  ap.add_argument("--seed", type=int, default=0)
  args = ap.parse_args()
  c = get_config("search,demo")
  c.arch.mode = "second_order"
  shape, num_actions = (64, 64, 3), 15
  spec = synthetic_spec(shape, DiscreteActions(num_actions), c.env.num_envs, parallel.Devices(1))
  agent = make_agent(c, make_encoder(c.encoder, arch=c.arch), spec, parallel.Devices(1))
  learner = agent.init(jax.random.PRNGKey(args.seed)).learner
  params, alphas, tx = learner.params, agent.opt.trainable(learner.alphas), agent.opt.weight_tx
  size = c.ppo.num_steps * c.env.num_envs // c.ppo.num_minibatches
  rng = np.random.default_rng(args.seed)
  loss = lambda b: lambda p, a: agent._loss(p, a, b)[0]
  grad_w = jax.jit(lambda p, b: jax.grad(loss(b))(p, alphas))
  state = tx.init(params)
  for _ in range(args.warm_steps):
    u, state = tx.update(grad_w(params, minibatch(rng, size, shape, num_actions)), state, params)
    params = optax.apply_updates(params, u)
  mb_a, mb_b = (minibatch(rng, size, shape, num_actions) for _ in range(2))
  g = grad_w(params, mb_a)
  lr = c.ppo.optimizer.lr
  sgd = optax.sgd(lr)
  # Everything that changes is an argument (closed-over arrays would be folded as constants).
  unrolled = jax.jit(
    lambda p, a, s, g, ba, bb, use_adam: hessian.unrolled_arch_grad(
      loss(ba), loss(bb), p, a, g, tx if use_adam else sgd, s
    ),
    static_argnums=6,
  )
  direct_grad = jax.jit(lambda w1, a, bb: jax.grad(loss(bb), argnums=1)(w1, a))
  w_adam, _ = hessian.virtual_step(tx, state, params, g)
  w_sgd = optax.tree.add_scale(params, -lr, g)
  direct = {"adam": direct_grad(w_adam, alphas, mb_b), "sgd": direct_grad(w_sgd, alphas, mb_b)}
  terms = {
    "adam": optax.tree.sub(unrolled(params, alphas, state, g, mb_a, mb_b, True), direct["adam"]),
    "sgd": optax.tree.sub(
      unrolled(params, alphas, sgd.init(params), g, mb_a, mb_b, False), direct["sgd"]
    ),
  }
  n = lambda t: float(optax.tree.norm(t))
  step_adam, step_sgd = n(optax.tree.sub(w_adam, params)), lr * n(g)
  print(
    f"PPO demo supernet {tuple(c.encoder.channels)}, minibatch {size} frames {shape}, "
    f"Adam lr {lr} eps {c.ppo.optimizer.eps} clip {c.ppo.optimizer.max_grad_norm}, "
    f"{args.warm_steps} warm-up steps, seed {args.seed}; {len(alphas_lib.op_alphas(alphas))} "
    "cell types"
  )
  print("| quantity | Adam's step | w - xi g | ratio |\n|---|---|---|---|")
  print(f"| virtual step norm | {step_adam:.3e} | {step_sgd:.3e} | {step_adam / step_sgd:.3g} |")
  ta, ts = n(terms["adam"]), n(terms["sgd"])
  print(f"| term through the step, norm | {ta:.3e} | {ts:.3e} | {ta / ts:.3g} |")
  da, ds = n(direct["adam"]), n(direct["sgd"])
  print(f"| grad_a L_B(w', a), norm | {da:.3e} | {ds:.3e} | |")
  print(f"| term / direct gradient | {ta / da:.3f} | {ts / ds:.3f} | |")


if __name__ == "__main__":
  main()
