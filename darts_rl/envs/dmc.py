"""DeepMind Control Suite from pixels: action repeat, frame stacking, auto-reset.

Each of the N rows is its own `dm_control.suite` environment with its own seed. A batch steps
and renders its rows in turn on a thread of its own: `step_async` starts the work there and
`step_wait` collects it, so the batches of a run (one per env group) step concurrently (MuJoCo
releases the GIL while it steps, and EGL renders outside it). All of a batch's rendering stays
on that thread. Rendering dominates the cost on CPU (software EGL, roughly 50-80 renders/s per
core at 84x84), so a frame is rendered only once per agent step, after the last action repeat,
plus once for the first frame of each new episode.

Render contexts outlive their batch: its rows' OpenGL contexts and MuJoCo's contexts of the
model (textures, meshes and fonts uploaded; ~0.3 s of CPU each, more than 10 renders) and the
thread they are current on go to a per-task spare list when the batch closes, and the next
batch of that task takes them (a run's evaluations make a batch per split and evaluation; a
process that runs several runs, many). A context serves one live batch at a time, on its own
thread, and its frames are those of a fresh one (tested).

dm_control is imported when a DM-Control env or task list is first needed (about 1 s that a
Procgen run does not spend).
"""

import collections
import concurrent.futures
import os
import threading
from typing import Any, Dict, List, NamedTuple, Optional

# Must be set before dm_control / mujoco pick a GL backend; EGL renders headless (on a GPU
# when there is one, else with Mesa's software device). A value set by the user wins.
os.environ.setdefault("MUJOCO_GL", "egl")


def egl_device(environ) -> Optional[str]:
  """The MUJOCO_EGL_DEVICE_ID that follows the process's GPU: the first CUDA_VISIBLE_DEVICES
  entry (a sweep gives each trial its GPU there; dm_control would otherwise pick the first EGL
  device for every trial). None where the user set it, EGL is not the backend, or the entry is
  not an index. Assumes EGL lists the GPUs in CUDA's order (CUDA_DEVICE_ORDER=PCI_BUS_ID)."""
  first = environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
  if "MUJOCO_EGL_DEVICE_ID" in environ or environ.get("MUJOCO_GL") != "egl":
    return None
  return first if first.isdigit() else None


if egl_device(os.environ) is not None:
  os.environ["MUJOCO_EGL_DEVICE_ID"] = egl_device(os.environ)

import functools  # noqa: E402

import numpy as np  # noqa: E402

from darts_rl.envs.base import BoxActions, EpisodeTracker, Step  # noqa: E402


class Released(NamedTuple):
  """The released code's per-task SAC settings (env steps are agent decisions)."""

  action_repeat: int
  init_random_env_steps: int
  total_env_steps: int


RELEASED = {
  "cartpole-swingup": Released(4, 1_000, 200_000),
  "reacher-easy": Released(4, 1_000, 300_000),
  "ball_in_cup-catch": Released(4, 1_000, 200_000),
  "finger-spin": Released(1, 10_000, 200_000),
  "cheetah-run": Released(4, 10_000, 2_000_000),
  "walker-walk": Released(2, 10_000, 1_000_000),
}
# A task the release did not run gets cartpole's settings.
FALLBACK = Released(4, 1_000, 200_000)
DEFAULT_ACTION_REPEAT = {task: r.action_repeat for task, r in RELEASED.items()}


def _suite():
  from dm_control import suite

  return suite


@functools.lru_cache(maxsize=None)
def dmc_tasks() -> tuple:
  """Every 'domain-task' name of dm_control.suite."""
  return tuple(f"{domain}-{task}" for domain, task in _suite().ALL_TASKS)


def parse_task(task: str) -> tuple:
  """'ball_in_cup-catch' -> ('ball_in_cup', 'catch'); ValueError listing valid names."""
  if task not in dmc_tasks():
    raise ValueError(
      f"unknown DM-Control task '{task}'; valid 'domain-task' names: {', '.join(dmc_tasks())}"
    )
  domain, task_name = task.split("-", 1)
  return domain, task_name


class _RenderThread(NamedTuple):
  """A batch's thread and the render contexts made current on it (EGL binds a context to the
  thread that first made it current)."""

  executor: concurrent.futures.ThreadPoolExecutor
  contexts: List[Any]  # dm_control Contexts (OpenGL + MuJoCo) of rows of the task's model


# Closed batches' threads with their render contexts, by task (the module docstring says why).
_SPARE: Dict[str, List[_RenderThread]] = collections.defaultdict(list)
_SPARE_LOCK = threading.Lock()


def _free_spare_threads() -> None:
  """Frees the spare render contexts on their own threads and ends the threads. Run as the
  interpreter exits, before it stops worker threads (later, dm_control's exit handler would
  free them on the main thread, which EGL refuses)."""
  with _SPARE_LOCK:
    spares = [spare for task in _SPARE for spare in _SPARE[task]]
    _SPARE.clear()
  for spare in spares:
    spare.executor.submit(
      lambda contexts=spare.contexts: [(c.mujoco.free(), c.gl.free()) for c in contexts]
    ).result()
    spare.executor.shutdown()


# What concurrent.futures does to end its threads at exit (Python 3.9+): called before the
# interpreter joins worker threads, last registered first, so before the spare threads end.
threading._register_atexit(_free_spare_threads)


def _spare_thread(task: str, name: str) -> _RenderThread:
  """A closed batch's thread and render contexts of `task`, else a new thread without any."""
  with _SPARE_LOCK:
    if _SPARE[task]:
      return _SPARE[task].pop()
  return _RenderThread(concurrent.futures.ThreadPoolExecutor(1, name), [])


def _env_seed(seed: int, index: int) -> int:
  """Independent per-row seed in [0, 2**32) (numpy RandomState's range)."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class DMCVecEnv:
  """N pixel DM-Control envs: obs [N, size, size, 3 * frame_stack] uint8, oldest frame first.

  Episodes end only by the suite's time limit, reported as truncated=True with `final_obs`;
  an episode that ends with discount 0 (a true terminal state) is reported as terminated.
  """

  def __init__(
    self,
    task: str,
    num_envs: int,
    seed: int,
    action_repeat: int,
    frame_stack: int = 3,
    image_size: int = 84,
    camera_id: Optional[int] = None,
    time_limit: Optional[float] = None,
    first_row: int = 0,
  ):
    domain, task_name = parse_task(task)
    if num_envs <= 0 or action_repeat <= 0 or frame_stack <= 0 or image_size <= 0:
      raise ValueError(
        f"num_envs ({num_envs}), action_repeat ({action_repeat}), "
        f"frame_stack ({frame_stack}) and image_size ({image_size}) "
        f"must be positive"
      )
    # Every suite task function takes `time_limit` itself (passing it through
    # environment_kwargs collides with that argument).
    time_kwargs = {} if time_limit is None else {"time_limit": float(time_limit)}
    self._envs = [
      _suite().load(
        domain, task_name, task_kwargs={"random": _env_seed(seed, first_row + i), **time_kwargs}
      )
      for i in range(num_envs)
    ]
    spec = self._envs[0].action_spec()
    if not (np.all(spec.minimum == -1.0) and np.all(spec.maximum == 1.0)):
      raise ValueError(f"{task}: expected actions in [-1, 1], got [{spec.minimum}, {spec.maximum}]")
    self.num_envs = num_envs
    self.action_spec = BoxActions(shape=tuple(spec.shape), low=-1.0, high=1.0)
    self.observation_shape = (image_size, image_size, 3 * frame_stack)
    self.game_ids = np.zeros(num_envs, np.int32)
    self.game_names = (task,)
    self.reward_scale = np.ones(1, np.float32)
    self._camera_id = (2 if domain == "quadruped" else 0) if camera_id is None else camera_id
    self._image_size = image_size
    self._action_repeat = action_repeat
    self._stack = np.zeros((num_envs,) + self.observation_shape, np.uint8)
    self._tracker = EpisodeTracker(num_envs)
    self._needs_reset = True
    self._task = task
    self._thread, contexts = _spare_thread(task, f"dmc-rows-{first_row}")
    # Rows beyond the spare contexts make their own on their first render (on this thread);
    # spare ones beyond the rows stay with the thread.
    for env, c in zip(self._envs, contexts):
      env.physics._contexts = c
    self._extra_contexts = contexts[len(self._envs) :]
    self._pending = None

  def _render(self, i: int) -> np.ndarray:
    """[size, size, 3] uint8 frame of row i."""
    return self._envs[i].physics.render(
      self._image_size, self._image_size, camera_id=self._camera_id
    )

  def _reset_row(self, i: int) -> None:
    self._envs[i].reset()
    # A new episode starts with its first frame repeated in every stack slot.
    self._stack[i] = np.tile(self._render(i), (1, 1, self.observation_shape[-1] // 3))

  def reset(self) -> np.ndarray:
    """Starts new episodes in every row; returns [N, size, size, 3 * frame_stack] uint8."""
    if self._pending is not None:
      raise RuntimeError("reset() while a step is running: call step_wait() first")
    self._thread.submit(lambda: [self._reset_row(i) for i in range(self.num_envs)]).result()
    self._tracker.reset()
    self._needs_reset = False
    return self._stack.copy()

  def step(self, actions: np.ndarray) -> Step:
    """Acts with [N, *action_shape] actions (clipped to [-1, 1]) for `action_repeat` steps.

    Rewards are summed over the repeats; the repeats stop early when the episode ends.
    """
    self.step_async(actions)
    return self.step_wait()

  def step_async(self, actions: np.ndarray) -> None:
    """Checks the actions and starts the step on the batch's thread."""
    if self._needs_reset:
      raise RuntimeError("call reset() before the first step()")
    if self._pending is not None:
      raise RuntimeError("step_async() twice: call step_wait() first")
    actions = np.asarray(actions, np.float64)
    expected = (self.num_envs,) + self.action_spec.shape
    if actions.shape != expected:
      raise ValueError(f"expected actions of shape {expected}, got {actions.shape}")
    self._pending = self._thread.submit(self._step_rows, np.clip(actions, -1.0, 1.0))

  def step_wait(self) -> Step:
    """The started step's result (its error, if the step raised one)."""
    pending, self._pending = self._pending, None
    if pending is None:
      raise RuntimeError("step_wait() without step_async()")
    return pending.result()

  def _step_rows(self, actions: np.ndarray) -> Step:
    reward = np.zeros(self.num_envs, np.float64)
    terminated = np.zeros(self.num_envs, bool)
    truncated = np.zeros(self.num_envs, bool)
    for i, env in enumerate(self._envs):
      for _ in range(self._action_repeat):
        time_step = env.step(actions[i])
        reward[i] += time_step.reward or 0.0
        if time_step.last():
          terminated[i] = time_step.discount == 0.0
          truncated[i] = not terminated[i]
          break
      # Shift the stack one frame (3 channels) towards the oldest end; newest goes last.
      self._stack[i, ..., :-3] = self._stack[i, ..., 3:]
      self._stack[i, ..., -3:] = self._render(i)
    done = terminated | truncated
    final_obs = self._stack.copy()
    for i in np.flatnonzero(done):
      self._reset_row(i)
    episode_return, episode_length = self._tracker.update(reward, done)
    return Step(
      obs=self._stack.copy(),
      reward=reward.astype(np.float32),
      terminated=terminated,
      truncated=truncated,
      final_obs=final_obs,
      episode_return=episode_return,
      episode_length=episode_length,
    )

  def close(self) -> None:
    """Frees the rows' physics on the thread that stepped them and keeps their render contexts
    for the next batch of the task (idempotent)."""
    if self._thread is None:
      return
    if self._pending is not None:
      self._pending.exception()  # a step still running finishes first
      self._pending = None
    envs, self._envs = self._envs, []
    thread, self._thread = self._thread, None

    def release():  # dm_control's Environment.close() keeps the physics: Physics.free()
      kept = []
      for env in envs:
        contexts, env.physics._contexts = env.physics._contexts, None
        if contexts is not None:
          kept.append(contexts)
        env.physics.free()
      return kept

    kept = thread.submit(release).result() + self._extra_contexts
    with _SPARE_LOCK:
      _SPARE[self._task].append(_RenderThread(thread, kept))

  def __del__(self):
    # A batch dropped without close() still frees its physics on its own thread and leaves its
    # thread and render contexts to the next batch. At interpreter exit the thread may be gone:
    # then the process's end frees them (dm_control frees every GL context at exit).
    try:
      self.close()
    except (RuntimeError, AttributeError):
      pass


def make_dmc(
  task: str,
  num_envs: int,
  seed: int,
  action_repeat: int,
  frame_stack: int = 3,
  image_size: int = 84,
  camera_id: Optional[int] = None,
  time_limit: Optional[float] = None,
  first_row: int = 0,
) -> DMCVecEnv:
  """Pixel DM-Control batch for `task` ('domain-task', e.g. 'cartpole-swingup').

  Row i is seeded from (seed, first_row + i): `first_row` is the run-wide index of this
  batch's first row when a run's envs are split into groups. Camera 0 (2 for quadruped)
  unless `camera_id` is given.
  `time_limit` overrides the suite's episode length in seconds of simulated time (default:
  the suite's, 1000 control steps for the standard tasks); agent steps per episode are
  control steps / action_repeat. Call `reset()` before the first `step`.
  """
  return DMCVecEnv(
    task, num_envs, seed, action_repeat, frame_stack, image_size, camera_id, time_limit, first_row
  )
