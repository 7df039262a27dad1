"""``pgrl/ContinuousCartPole-v0``: the classic cart-pole with a continuous force, as in the course notebooks.

Dynamics are gymnasium's CartPole (Barto, Sutton and Anderson 1983; euler integration, dt = 0.02 s);
what differs:

- action: a in [-1, 1] (Box of shape (1,)), force = 10 * a newtons (out-of-range actions are clipped);
- failure (termination) at |x| > 2.4 or |theta| > 20 degrees (CartPole-v1: 12 degrees);
- reward 1 for every step that leaves the pole upright and 0 on the failing step, so the return
  counts the steps survived;
- a 500-step time limit (a truncation), set by the registration's ``max_episode_steps``.

Registered with gymnasium when :mod:`pgrl` is imported::

    env = gymnasium.make("pgrl/ContinuousCartPole-v0", render_mode="rgb_array")

Rendering (``rgb_array``, 400 x 600 x 3, or ``human``) is gymnasium's CartPole drawing, inherited.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import logger, spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from pgrl.registration import CONTINUOUS_CARTPOLE, register_envs

ENV_ID = CONTINUOUS_CARTPOLE
MAX_EPISODE_STEPS = 500


class ContinuousCartPoleEnv(CartPoleEnv):
    """Cart-pole with a continuous force in [-10, 10] N; see the module docstring.

    Observation (float32, shape (4,)): cart position (m), cart velocity (m/s), pole angle (rad, 0 is
    upright), pole angular velocity (rad/s). The start state is uniform in [-0.05, 0.05]^4, drawn from
    the generator seeded by ``reset(seed=...)``.
    """

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.theta_threshold_radians = 20 * 2 * math.pi / 360
        # Observation bounds at twice the failure thresholds, so the failing observation is still inside.
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self.state is not None, "Call reset before using step method."
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        force = self.force_mag * a
        x, x_dot, theta, theta_dot = self.state
        costheta, sintheta = math.cos(theta), math.sin(theta)

        # gymnasium's CartPole equations of motion (see https://coneural.org/florian/papers/05_cart_pole.pdf).
        temp = (force + self.polemass_length * theta_dot**2 * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta**2 / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot  # euler: positions move with the old velocities
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = np.array((x, x_dot, theta, theta_dot), dtype=np.float64)

        terminated = bool(abs(x) > self.x_threshold or abs(theta) > self.theta_threshold_radians)
        if terminated:
            if self.steps_beyond_terminated is None:
                self.steps_beyond_terminated = 0  # type: ignore[assignment]  # the parent declares None
            else:
                if self.steps_beyond_terminated == 0:
                    logger.warn(
                        "You are calling 'step()' even though this environment has already returned "
                        "terminated = True; call 'reset()' first -- further steps are undefined behavior."
                    )
                self.steps_beyond_terminated += 1  # type: ignore[operator]
        reward = 0.0 if terminated else 1.0  # the failing step earns nothing

        if self.render_mode == "human":
            self.render()
        # Truncation is the TimeLimit wrapper's job (max_episode_steps of the registration).
        return np.array(self.state, dtype=np.float32), reward, terminated, False, {}


register_envs()  # importing the module registers it too (pgrl's import does it first)
