"""MuJoCo's warnings, routed to Python's ``warnings`` module.

MuJoCo's default handler prints each warning and appends it to ``MUJOCO_LOG.TXT`` in the working
directory. With mujoco 4.0, every HalfCheetah model gymnasium compiles warns that its XML uses the
deprecated ``settotalmass`` attribute: 8 lines and a new file in the user's folder per 8-env run, about an
asset nobody running pgrl can change. pgrl drops that one message and passes every other MuJoCo warning to
``warnings.warn`` (shown once per message by default, and filterable like any Python warning). A handler
the user installed (``mujoco.set_mju_user_warning``) is left in place.
"""

from __future__ import annotations

import warnings

import gymnasium as gym

# gymnasium's half_cheetah.xml under mujoco >= 4.0; nothing to act on for a pgrl user
_GYMNASIUM_ASSET_DEPRECATION = "compiler attribute 'settotalmass' is deprecated"
_routed = False


def _warn(message: str) -> None:
    if _GYMNASIUM_ASSET_DEPRECATION not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


def is_mujoco(env_id: str) -> bool:
    """Whether the registered env ``env_id`` is one of gymnasium's MuJoCo envs."""
    entry = gym.spec(env_id).entry_point
    return isinstance(entry, str) and entry.startswith("gymnasium.envs.mujoco")


def route_mujoco_warnings() -> None:
    """Install pgrl's MuJoCo warning handler once per process (before an env compiles its model)."""
    global _routed
    if _routed:
        return
    import mujoco  # only for a MuJoCo env, which needs it anyway

    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_warn)
    _routed = True
