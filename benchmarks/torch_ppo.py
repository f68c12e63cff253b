"""A faithful PyTorch PPO (CleanRL's ppo_procgen.py) for speed comparison only.

Same IMPALA-CNN (16, 32, 32), same losses (clipped surrogate, clipped value, entropy), Adam
with eps 1e-5 and global-norm clipping 0.5, GAE, advantage normalization per minibatch.
Imported by benchmarks/ppo_procgen.py when torch is installed (`pip install -e .[bench]`);
never by the darts_rl package.
"""

import time

import numpy as np
import torch
from torch import nn


class ResidualBlock(nn.Module):
  def __init__(self, c):
    super().__init__()
    self.conv0 = nn.Conv2d(c, c, 3, padding=1)
    self.conv1 = nn.Conv2d(c, c, 3, padding=1)

  def forward(self, x):
    return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ConvSequence(nn.Module):
  def __init__(self, cin, cout):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, 3, padding=1)
    self.res0, self.res1 = ResidualBlock(cout), ResidualBlock(cout)

  def forward(self, x):
    x = nn.functional.max_pool2d(self.conv(x), 3, 2, padding=1)
    return self.res1(self.res0(x))


class Agent(nn.Module):
  def __init__(self, num_actions, channels=(16, 32, 32)):
    super().__init__()
    layers, cin = [], 3
    for c in channels:
      layers.append(ConvSequence(cin, c))
      cin = c
    self.trunk = nn.Sequential(*layers)
    self.dense = nn.Linear(cin * 8 * 8, 256)
    self.policy = nn.Linear(256, num_actions)
    self.value = nn.Linear(256, 1)

  def forward(self, obs_uint8):
    x = obs_uint8.permute(0, 3, 1, 2).float() / 255.0
    h = torch.relu(self.dense(torch.relu(self.trunk(x).flatten(1))))
    return self.policy(h), self.value(h)[:, 0]


class TorchPPO:
  def __init__(self, num_actions, num_envs, num_steps, num_minibatches, num_epochs, lr=5e-4):
    torch.manual_seed(0)
    self.net = Agent(num_actions)
    self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, eps=1e-5)
    self.N, self.T, self.M, self.E = num_envs, num_steps, num_minibatches, num_epochs

  @torch.no_grad()
  def act(self, obs):
    logits, value = self.net(torch.from_numpy(obs))
    dist = torch.distributions.Categorical(logits=logits)
    a = dist.sample()
    return a.numpy(), dist.log_prob(a).numpy(), value.numpy()

  def update(
    self,
    obs,
    actions,
    logp,
    values,
    rewards,
    dones,
    last_value,
    gamma=0.999,
    lam=0.95,
    clip=0.2,
    ent=0.01,
    vf=0.5,
  ):
    T, N = rewards.shape
    adv = np.zeros((T, N), np.float32)
    last = 0.0
    for t in reversed(range(T)):
      nv = last_value if t == T - 1 else values[t + 1]
      nonterm = 1.0 - dones[t]
      delta = rewards[t] + gamma * nv * nonterm - values[t]
      last = delta + gamma * lam * nonterm * last
      adv[t] = last
    ret = adv + values
    b = lambda x: torch.from_numpy(np.ascontiguousarray(x.reshape((T * N,) + x.shape[2:])))
    b_obs, b_act, b_logp, b_val, b_adv, b_ret = map(b, (obs, actions, logp, values, adv, ret))
    mb = T * N // self.M
    for _ in range(self.E):
      idx = np.random.permutation(T * N)
      for s in range(0, T * N, mb):
        i = torch.from_numpy(idx[s : s + mb])
        logits, v = self.net(b_obs[i])
        dist = torch.distributions.Categorical(logits=logits)
        ratio = (dist.log_prob(b_act[i]) - b_logp[i]).exp()
        a = b_adv[i]
        a = (a - a.mean()) / (a.std() + 1e-8)
        pg = torch.max(-a * ratio, -a * ratio.clamp(1 - clip, 1 + clip)).mean()
        v_clip = b_val[i] + (v - b_val[i]).clamp(-clip, clip)
        v_loss = 0.5 * torch.max((v - b_ret[i]) ** 2, (v_clip - b_ret[i]) ** 2).mean()
        loss = pg - ent * dist.entropy().mean() + vf * v_loss
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 0.5)
        self.opt.step()


def iteration(agent: TorchPPO, env, obs):
  """One rollout of T steps on N envs + the update. Returns (obs, rollout_s, update_s)."""
  T, N = agent.T, agent.N
  o = np.empty((T, N) + obs.shape[1:], np.uint8)
  a, lp, v, r, d = (
    np.empty((T, N), t) for t in (np.int64, np.float32, np.float32, np.float32, np.float32)
  )
  t0 = time.perf_counter()
  for t in range(T):
    o[t] = obs
    a[t], lp[t], v[t] = agent.act(obs)
    step = env.step(a[t])
    obs, r[t], d[t] = step.obs, step.reward, step.terminated | step.truncated
  last_value = agent.act(obs)[2]
  t1 = time.perf_counter()
  agent.update(o, a, lp, v, r, d, last_value)
  return obs, t1 - t0, time.perf_counter() - t1
