"""The installed Procgen package plays exactly what procgen-mirror 0.10.7 played.

tests/data/procgen_frames.npz was recorded once with procgen-mirror (tests/procgen_recording.py
says how); replayed here with the same seeds and actions through whichever package this stack
installed (procgen-gym on Python 3.13), every reward and episode end must be the same, and every
frame the same up to the packages' drawing differences: procgen-gym 0.1.1 draws 11 % of the
easy_train frames (coinrun's and bossfight's) and 5 % of the hard_test frames differently in a
thin line of pixels, which moves no 8x8 block mean by more than 1 (procgen_recording.thumbnail).
"""

import os

import numpy as np
import pytest

from darts_rl.envs import procgen as pg
from tests import procgen_recording

RECORDING = os.path.join(os.path.dirname(__file__), "data", "procgen_frames.npz")


@pytest.fixture(scope="module")
def recorded():
  with np.load(RECORDING) as data:
    return {k: data[k] for k in data.files}


def test_the_recording_is_from_procgen_mirror(recorded):
  assert str(recorded["package"]) == "procgen-mirror 0.10.7"
  assert recorded["easy_train/firsts"].sum() > 0 and recorded["hard_test/firsts"].sum() > 0
  assert (recorded["easy_train/rewards"] != 0).any() and (recorded["hard_test/rewards"] != 0).any()


@pytest.mark.parametrize("name", sorted(procgen_recording.SCENARIOS))
def test_same_rewards_episode_ends_and_frames(recorded, name):
  played = procgen_recording.play(name, recorded[f"{name}/actions"].astype(np.int64))
  for field in ("rewards", "firsts", "frames", "thumbnails"):
    assert played[f"{name}/{field}"].shape == recorded[f"{name}/{field}"].shape, field
  for field in ("rewards", "firsts"):
    differ = np.flatnonzero((played[f"{name}/{field}"] != recorded[f"{name}/{field}"]).any(1))
    assert differ.size == 0, f"{pg.PACKAGE}: {name} {field} differ from step {differ[:1]} on"
  block_diff = np.abs(
    played[f"{name}/thumbnails"].astype(int) - recorded[f"{name}/thumbnails"].astype(int)
  ).max(axis=(2, 3, 4))
  far = np.argwhere(block_diff > 1)
  assert far.size == 0, (
    f"{pg.PACKAGE}: {name} frame (row, env) {far[0]} differs by {block_diff.max()}"
  )
  exact = np.mean(played[f"{name}/frames"] == recorded[f"{name}/frames"])
  assert exact >= 0.85, f"{pg.PACKAGE}: only {exact:.0%} of {name}'s frames are byte-identical"


def test_the_comparison_sees_one_pixel_and_one_game_step(recorded):
  frames = np.zeros((2, 64, 64, 3), np.uint8)
  changed = frames.copy()
  changed[1, 63, 63, 2] = 1
  a, b = procgen_recording.digest(frames), procgen_recording.digest(changed)
  assert a[0] == b[0] and a[1] != b[1]
  # A thumbnail tolerance of 1 still tells nearly every step of the game from the next one.
  thumbs = recorded["easy_train/thumbnails"].astype(int)
  moved = (recorded["easy_train/frames"][1:] != recorded["easy_train/frames"][:-1]).ravel()
  step_diff = np.abs(thumbs[1:] - thumbs[:-1]).max(axis=(2, 3, 4)).ravel()[moved]
  assert np.mean(step_diff > 1) > 0.99
