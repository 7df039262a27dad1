"""`pgrl watch` / pgrl.watch: headless videos of a trained CartPole agent, read back with imageio."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest

import pgrl
from pgrl.cli import main
from pgrl.watch import Video

H, W = 400, 600  # CartPole's rgb_array frames
FPS = 50  # CartPole's render_fps


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CartPole agent trained for a few seconds (it balances for some tens of steps)."""
    out = tmp_path_factory.mktemp("watch") / "run"
    pgrl.ppo("CartPole-v1", seed=0, epochs=12, eval_episodes=0, verbose=False, logger_kwargs={"output_dir": str(out)})
    return out


def mp4_frames(path: Path) -> list[np.ndarray]:
    with iio2.get_reader(str(path), format="FFMPEG") as reader:
        return list(reader.iter_data())


def test_watch_records_and_saves_mp4_and_gif(run_dir: Path, tmp_path: Path) -> None:
    video = pgrl.watch(run_dir, episodes=2, seed=3, max_ep_len=60)
    assert isinstance(video, Video)
    assert len(video.returns) == 2 and len(video.lengths) == 2
    np.testing.assert_array_equal(video.returns, video.lengths)  # CartPole: reward 1 per step
    expected = int(video.lengths.sum()) + 2  # one first frame per episode, then one per step
    assert video.frames.shape == (expected, H, W, 3) and video.frames.dtype == np.uint8
    assert video.fps == FPS

    mp4 = video.save(tmp_path / "agent.mp4")
    frames = mp4_frames(mp4)
    assert len(frames) == expected
    assert frames[0].shape == (H, W, 3)
    assert not all(np.array_equal(frames[0], f) for f in frames[1:])
    # Lossy, but the picture is the rendered one (not rescaled or shifted).
    assert np.abs(frames[expected // 2].astype(int) - video.frames[expected // 2].astype(int)).mean() < 8

    gif = video.save(tmp_path / "agent.gif")
    gif_frames = iio.imread(gif, index=None)
    assert gif_frames.shape[1:3] == (H, W)
    assert not all(np.array_equal(gif_frames[0], f) for f in gif_frames[1:])
    # The gif writer merges consecutive identical frames into longer ones; the playing time is exact.
    durations = [iio.immeta(gif, index=i)["duration"] for i in range(len(gif_frames))]
    assert len(gif_frames) <= expected
    assert sum(durations) == expected * 1000 // FPS


def test_watch_is_deterministic_and_seeded(run_dir: Path) -> None:
    agent = pgrl.load(run_dir)
    a = pgrl.watch(agent, episodes=1, seed=5, max_ep_len=30)
    b = pgrl.watch(agent, episodes=1, seed=5, max_ep_len=30)
    np.testing.assert_array_equal(a.frames, b.frames)
    random_video = pgrl.watch(env="CartPole-v1", random=True, episodes=2, seed=1)
    assert len(random_video) == int(random_video.lengths.sum()) + 2
    assert "random policy" in repr(random_video)


def test_video_shows_inline_in_jupyter(run_dir: Path) -> None:
    video = pgrl.watch(run_dir, episodes=1, max_ep_len=10)
    html = video._repr_html_()
    assert "<video" in html and 'type="video/mp4"' in html
    payload = html.split("data:video/mp4;base64,")[1].split('"')[0]
    assert base64.b64decode(payload)[4:8] == b"ftyp"  # an mp4 container
    assert "<img" in video.to_html("gif") and "data:image/gif;base64,R0lG" in video.to_html("gif")


def test_watch_cli(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.mp4"
    assert main(["watch", str(run_dir), "--out", str(out), "--episodes", "2", "--max-ep-len", "40"]) == 0
    text = capsys.readouterr().out
    lengths = [int(line.rsplit("length ", 1)[1]) for line in text.splitlines() if line.startswith("episode ")]
    assert len(lengths) == 2
    assert len(mp4_frames(out)) == sum(lengths) + 2
    assert "ppo agent on CartPole-v1" in text

    gif = tmp_path / "random.gif"
    assert main(["watch", "--random", "--env", "CartPole-v1", "--out", str(gif), "--seed", "2"]) == 0
    assert "random policy on CartPole-v1" in capsys.readouterr().out
    assert iio.imread(gif, index=None).shape[1:] == (H, W, 3)


def test_watch_random_takes_env_kwargs_and_wrappers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Sutton and Barto's reward (0 a step, -1 at the fall) and a 5-step time limit, as pgrl train takes them
    out = tmp_path / "random.gif"
    argv = ["watch", "--random", "--env", "CartPole-v1", "--env-kwargs", "sutton_barto_reward=true",
            "--wrapper", "gymnasium.wrappers:TimeLimit", "max_episode_steps=5", "--episodes", "3", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    episodes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("episode ")]
    assert len(episodes) == 3
    for line in episodes:
        ret, length = line.split("return ", 1)[1].split(", length ")
        assert float(ret) in (0.0, -1.0) and int(length) <= 5
    assert main(["watch", "--random", "--env-kwargs", "a=1", "--out", str(out)]) == 2
    assert "go with --env ID" in capsys.readouterr().err


def test_watch_cli_errors(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "--random --env" in capsys.readouterr().err
    assert main(["watch", str(run_dir), "--out", str(tmp_path / "x.avi")]) == 2
    assert ".mp4 or .gif" in capsys.readouterr().err
    assert main(["watch", str(tmp_path / "no-run"), "--out", str(tmp_path / "x.mp4")]) == 2
    assert main(["watch", "--random", "--env", "CartPole-v0000", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "unknown environment" in capsys.readouterr().err


def test_missing_optional_packages_give_a_clear_error(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = pgrl.watch(run_dir, episodes=1, max_ep_len=3)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes `import imageio_ffmpeg` fail
    with pytest.raises(pgrl.PgrlError, match=r'pip install "pgrl\[viz\]"'):
        video.save(tmp_path / "x.mp4")
    assert "<img" in video._repr_html_()  # without ffmpeg the notebook gets a gif


def test_pgrl_imports_without_the_optional_packages() -> None:
    code = (
        "import sys\n"
        "for name in ('matplotlib', 'imageio', 'imageio_ffmpeg', 'tensorboard', 'PIL'):\n"
        "    sys.modules[name] = None\n"
        "import pgrl, pgrl.cli\n"
        "assert pgrl.cli.main(['--help']) == 0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
