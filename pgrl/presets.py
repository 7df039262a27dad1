"""Per-env presets: hyperparameters tuned for an env, as plain data over the algorithms' config fields.

A run takes the field defaults of its algorithm's config (e.g. :class:`pgrl.algos.ppo.PPOConfig`), then
the preset for its env id here, then what the caller passed. ``pgrl algos`` and the docs' tables show
them; benchmarks/README.md records how they were tuned (on seeds >= 100 only).
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {
        # Tuned for wall clock on seeds 100-119 (benchmarks/README.md): 32 envs x 64 steps, 6 passes in
        # minibatches of 512 (24 gradient steps per 2,048 env steps), running observation normalisation,
        # lr 2e-3 annealed to 0 over 64 epochs (131,072 steps). Tuning seeds first pass 475 at 6k-39k steps
        # (median 9k), are all at 500 after 98,304 steps and all end at 500. Without the observation
        # normalisation and with 16 envs, 1 of 20 never passed within 100k steps and 2 ended below 475.
        "CartPole-v1": {
            "num_envs": 32,
            "steps_per_epoch": 2048,
            "epochs": 64,
            "gamma": 0.98,
            "lam": 0.95,
            "clip_ratio": 0.3,
            "pi_lr": 2e-3,
            "anneal_lr": True,
            "update_epochs": 6,
            "minibatch_size": 512,
            "norm_obs": True,
            "activation": "relu",
        },
        # The zoo's gamma/lam/entropy with CPU-sized updates: 32 envs x 512 steps, 4 passes in minibatches
        # of 512 (128 gradient steps per epoch instead of the zoo's 1,024 of 64), lr 1e-3, ReLU. Tuning
        # seeds 100-105 first pass 200 at 262k-410k steps (the zoo's settings: ~540k).
        "LunarLander-v3": {
            "num_envs": 32,
            "steps_per_epoch": 16384,
            "epochs": 50,
            "gamma": 0.999,
            "lam": 0.98,
            "pi_lr": 1e-3,
            "anneal_lr": False,
            "update_epochs": 4,
            "minibatch_size": 512,
            "ent_coef": 0.01,
            "activation": "relu",
        },
        # The CartPole-v1 recipe with 10 passes and lr 5e-3 (the Gaussian policy learns more per batch).
        # Tuning seeds 100-109 first pass 475 at 8k-33k steps (median 17k) and all end at 500; held-out
        # seeds 110-119: 14k-29k steps, 1.1 s median, all end at 500, where the zoo's CartPole-v1 recipe
        # (8 envs x 32 steps, 20 passes of 256; the previous preset) took 2.6 s and solved 8/10 in 51k steps.
        "pgrl/ContinuousCartPole-v0": {
            "num_envs": 16,
            "steps_per_epoch": 2048,
            "epochs": 50,
            "gamma": 0.98,
            "lam": 0.95,
            "clip_ratio": 0.3,
            "pi_lr": 5e-3,
            "anneal_lr": True,
            "update_epochs": 10,
            "minibatch_size": 512,
            "activation": "relu",
        },
        # The LunarLander-v3 recipe with the lr annealed over ~1M steps. Tuning seeds 100-101 first pass 200
        # at 590k-623k steps in ~45 s and end at 231-252; the zoo's settings (16 envs, minibatch 64, lr
        # 3e-4): 737k-819k steps, 106-120 s, ending at 187-206.
        "LunarLanderContinuous-v3": {
            "num_envs": 32,
            "steps_per_epoch": 16384,
            "epochs": 62,
            "gamma": 0.999,
            "lam": 0.98,
            "pi_lr": 1e-3,
            "update_epochs": 4,
            "minibatch_size": 512,
            "ent_coef": 0.01,
            "activation": "relu",
        },
        # Toy-text envs (Discrete observations, one-hot). FrozenLake-v1 with is_slippery=False: tuning seeds
        # 100-102 all evaluate at 1.0 after 7,680 steps (~2 s).
        "FrozenLake-v1": {
            "num_envs": 8,
            "steps_per_epoch": 512,
            "epochs": 15,
            "pi_lr": 3e-3,
            "update_epochs": 4,
            "minibatch_size": 128,
        },
        # Taxi-v4 gives info["action_mask"], which pgrl obeys: tuning seeds 103-105 evaluate at 8.0-8.6 after
        # 246k steps (~40 s); after 143k steps (35 epochs) seeds 100-102 were at 7.75-7.85 but 103-105 at -2.5 to
        # -1.9, and with 8 passes 104 stayed at -200.
        "Taxi-v4": {
            "num_envs": 16,
            "steps_per_epoch": 4096,
            "epochs": 60,
            "pi_lr": 5e-3,
            "update_epochs": 4,
            "minibatch_size": 1024,
            "ent_coef": 0.01,
            "activation": "relu",
        },
        # CliffWalking-v1 (no time limit; the cliff sends the agent back to the start at -100): a table per
        # state (no hidden layer, no bias), so that "up", which the cliff teaches near the bottom row, is not
        # learned for the states where the way to the goal is "right" through a shared bias or layer (with
        # them, every configuration tried walked up into the wall everywhere; benchmarks/README.md). Episodes
        # truncated at 200 steps. Tuning seeds 100-101 evaluate at -15 after 80 epochs (328k steps, ~15 s);
        # with lr 1e-2 and entropy 0.05 one of them stayed at -200.
        "CliffWalking-v1": {
            "num_envs": 16,
            "steps_per_epoch": 4096,
            "epochs": 80,
            "max_ep_len": 200,
            "pi_lr": 3e-2,
            "update_epochs": 4,
            "minibatch_size": 1024,
            "ent_coef": 0.02,
            "hidden_sizes": (),
            "bias": False,
        },
        # MiniGrid's Dict observation (a 7x7x3 image through the small CNN, the direction one-hot; the mission
        # left out), or its image alone (minigrid.wrappers:ImgObsWrapper): tuning seeds 100-101 evaluate at
        # 0.95 after 25,600 steps; with lr 1e-3 the deterministic policy still looped (0.0) at 15k-25k steps.
        "MiniGrid-Empty-5x5-v0": {
            "num_envs": 8,
            "steps_per_epoch": 1024,
            "epochs": 25,
            "pi_lr": 3e-3,
            "update_epochs": 4,
            "minibatch_size": 256,
            "activation": "relu",
        },
    },
    # Small batches and large steps: CartPole in seconds (tests/test_*.py hold the measured budgets); the
    # annealed step keeps a solved policy from drifting away before the budget ends.
    "vpg": {
        "CartPole-v1": {
            "num_envs": 8,
            "steps_per_epoch": 1000,
            "epochs": 80,
            "gamma": 0.98,
            "lam": 0.9,
            "pi_lr": 1e-2,
            "vf_lr": 3e-3,
            "train_v_iters": 20,
            "anneal_lr": True,
            "save_freq": 20,
        },
    },
    # Two envs of 1000 steps each per batch: long enough that most episodes end inside the segment.
    "reinforce": {
        "CartPole-v1": {
            "num_envs": 2,
            "steps_per_epoch": 2000,
            "epochs": 50,
            "pi_lr": 2e-2,
            "norm_returns": True,
            "anneal_lr": True,
            "save_freq": 10,
        },
        "pgrl/ContinuousCartPole-v0": {
            "num_envs": 2,
            "steps_per_epoch": 2000,
            "epochs": 50,
            "pi_lr": 2e-2,
            "norm_returns": True,
            "anneal_lr": True,
            "save_freq": 10,
        },
    },
    "a2c": {
        "CartPole-v1": {
            "num_envs": 16,
            "steps_per_epoch": 2000,
            "epochs": 50,
            "gamma": 0.98,
            "lr": 1e-3,
            "ent_coef": 0.01,
        },
        # Many envs and a decaying step: A2C on LunarLander collapsed with 16 envs or a constant step (seed 0).
        "LunarLander-v3": {
            "num_envs": 32,
            "steps_per_epoch": 10000,
            "epochs": 100,
            "gamma": 0.995,
            "lr": 1e-3,
            "ent_coef": 0.001,
            "anneal_lr": True,
        },
    },
    "ars": {
        "CartPole-v1": {"epochs": 30},
        "pgrl/ContinuousCartPole-v0": {"epochs": 40},
    },
}

# MuJoCo v5 (issue 15): CleanRL's ppo_continuous_action recipe, the reference implementation whose
# benchmark researchers compare with (and the "37 implementation details of PPO" study's): 2,048 steps per
# update, 10 passes, gamma 0.99, lambda 0.95, the learning rate annealed to 0, the policy and the value
# clipped at 0.2, gradients at norm 0.5, observations and rewards normalised and clipped at 10, a Gaussian
# policy starting at std 1 (log std 0), 64x64 tanh; 488 updates (999,424 steps, CleanRL's 1M).
# Changed for the CPU: 16 envs x 128 steps instead of 1 x 2,048 (one policy pass steps 16 copies), and
# minibatches of 512 instead of 64 with lr 1e-3 instead of 3e-4: a gradient step on this size costs torch a
# fixed ~1.5 ms, almost independent of the samples (64: 1.7 ms, 512: 2.1 ms here), so 40 steps an update
# instead of 320 cut the update ~4x, and the larger rate makes up the fewer steps. Tuned on seeds 100-101
# at 1M steps (benchmarks/README.md); lr 5e-4 stalled on Hopper seed 100.
MUJOCO_V5 = (
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Swimmer-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Reacher-v5",
    "Humanoid-v5",
)
MUJOCO_PPO: dict[str, Any] = {
    "num_envs": 16,
    "steps_per_epoch": 2048,
    "epochs": 488,
    "gamma": 0.99,
    "lam": 0.95,
    "clip_ratio": 0.2,
    "pi_lr": 1e-3,
    "anneal_lr": True,
    "update_epochs": 10,
    "minibatch_size": 512,
    "max_grad_norm": 0.5,
    "vf_clip": 0.2,
    "norm_obs": True,
    "norm_reward": True,
    "log_std_init": 0.0,
}
for _env in MUJOCO_V5:
    PRESETS["ppo"][_env] = dict(MUJOCO_PPO)
# InvertedPendulum's step is cheap (~35 us), so the update is most of an epoch: 5 passes instead of 10
# (returns 1,000 at 1M steps on seeds 100 and 101 with either; ~1.3x the steps/s).
PRESETS["ppo"]["InvertedPendulum-v5"]["update_epochs"] = 5
# HalfCheetah's step is cheap too (~60 us) and the policy pass and bookkeeping per vector step were a fifth of
# its collection: 64 envs x 32 steps (one pass for 64 copies; the same 2,048-step batch and 40 gradient steps).
# Last-100 scores on tuning seeds 100-103 (every copy ends its 1,000-step episodes together, so exact from
# progress.txt): 64 envs 4,375 / 1,652 / 1,639 / 2,579 (mean 2,561), 32 envs 3,563 / 1,728 / 4,714 / 1,633
# (2,910), 16 envs 1,716 / 4,521 / 1,709 / 1,647 (2,398): each seed either finds the ~4,500 gait or stays
# near 1,650, whichever the width. 64 envs took the pgrl / floor ratio from 51% to 57% (medians of four
# alternating rounds; benchmarks/README.md).
PRESETS["ppo"]["HalfCheetah-v5"]["num_envs"] = 64
# And its update was 42% of an epoch (40 gradient steps of 512): minibatches of 1,024 (20 steps) on tuning seeds
# 100-103 scored 4,308 / 4,256 / 1,518 / 2,344 (mean 3,106; 512: the 2,561 above) at 57% of the env floor
# instead of 50% (2026-12-02; 5 passes of 512 instead: 1,613 / 1,612 / 1,452 / 1,449, 62%).
PRESETS["ppo"]["HalfCheetah-v5"]["minibatch_size"] = 1024
# Walker2d too: its split copies step 16 a side instead of 8, so the pipe's round trip and the policy pass are
# paid once per 32 copies (`benchmarks/epoch_profile.py --env Walker2d-v5 --set num_envs=32`, wall clock: the
# env step 406 -> 290 ms an epoch, 3,241 -> 4,652 steps/s). Tuning seeds 100-101: 2,974 / 2,977 against 16
# envs' 3,678 / 3,068. Hopper stays at 16: with 32 its seeds 100-101 ended at 931 / 688 (16: 1,904 / 2,950).
PRESETS["ppo"]["Walker2d-v5"]["num_envs"] = 32

# MuJoCo v5 for A2C (issue 15): its defaults (SB3's: 5 steps per update, lambda 1, one optimizer) with the
# details that make continuous control learn (rl-baselines3-zoo runs SB3's A2C on MuJoCo with VecNormalize):
# observations and rewards normalised, the rate annealed, a Gaussian policy starting at std 1; 250 epochs of
# 4,000 steps (1M). Tuned on Hopper-v5 seeds 100-101 at 1M steps (benchmarks/README.md): last-100 score 996 /
# 994, evaluation 998 / 994; with the normalisation but the default std 0.61 at the start 689 / 408 (seed 101
# stuck at ~420); the defaults alone evaluated 339 +/- 213 on seed 100 at 500k (991 with the normalisation).
MUJOCO_A2C: dict[str, Any] = {
    "epochs": 250,
    "norm_obs": True,
    "norm_reward": True,
    "anneal_lr": True,
    "log_std_init": 0.0,
}
for _env in MUJOCO_V5:
    PRESETS["a2c"][_env] = dict(MUJOCO_A2C)

# MuJoCo v5 for ARS (issue 15): V2-t with a linear policy as Mania et al. 2018 ran it on these envs, their
# hyperparameters table (step size alpha, directions N, kept directions b, noise nu) and the reward shift of
# their code (1 for Hopper, Walker2d and Ant, 5 for Humanoid: the alive bonus taken off the ranked returns);
# Swimmer as their V1 (no observation normalisation, its best there); their policy a = M x has no bias.
# Not tuned here. Budgets: iterations of 2N episodes of <= 1,000 steps (Hopper's 300: <= 4.8M steps;
# HalfCheetah's 100: 6.4M); shorten with --epochs.
ARS_MUJOCO: dict[str, dict[str, Any]] = {
    "Swimmer-v5": {"n_directions": 1, "top_b": 1, "step_size": 0.02, "noise_std": 0.01, "norm_obs": False,
                   "epochs": 500},
    "Hopper-v5": {"n_directions": 8, "top_b": 4, "step_size": 0.01, "noise_std": 0.025, "reward_shift": 1.0,
                  "epochs": 300},
    "HalfCheetah-v5": {"n_directions": 32, "top_b": 4, "step_size": 0.02, "noise_std": 0.03, "epochs": 100},
    "Walker2d-v5": {"n_directions": 40, "top_b": 30, "step_size": 0.025, "noise_std": 0.01, "reward_shift": 1.0,
                    "epochs": 300},
    "Ant-v5": {"n_directions": 60, "top_b": 20, "step_size": 0.015, "noise_std": 0.025, "reward_shift": 1.0,
               "epochs": 300},
    "Humanoid-v5": {"n_directions": 230, "top_b": 230, "step_size": 0.02, "noise_std": 0.0075,
                    "reward_shift": 5.0, "epochs": 300},
}  # fmt: skip
for _env, _preset in ARS_MUJOCO.items():
    PRESETS["ars"][_env] = {**_preset, "bias": False}
