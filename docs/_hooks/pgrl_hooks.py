"""mkdocs hooks: pages that are generated from the code at build time, so they cannot drift.

Markers a page may hold (each on a line of its own):

- ``<!-- pgrl:defaults ALGO -->``: the table of the hyperparameters of ALGO's config class (each field's
  help and default) and the env presets of ``pgrl.presets.PRESETS[ALGO]`` (what ``pgrl algos`` prints);
- ``<!-- pgrl:cli ARGS -->``: the output of ``pgrl ARGS --help``, e.g. ``train ppo``;
- ``<!-- pgrl:cli-all -->``: a section per subcommand of ``pgrl`` with its help (``train``: ``train ppo``'s);
- ``<!-- pgrl:include PATH -->``: the Markdown file PATH (relative to the repository root), with its
  headings demoted one level, or a sentence saying where it will be when it does not exist yet.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- pgrl:(defaults|cli-all|cli|include)(?: (.*?))? -->$", re.MULTILINE)


def _fmt(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value) if isinstance(value, str) else str(value)


def defaults_table(algo: str) -> str:
    from pgrl.algos.registry import ALGORITHMS
    from pgrl.algos.signature import in_signature_order
    from pgrl.presets import PRESETS

    config = ALGORITHMS[algo].config
    presets = PRESETS.get(algo, {})
    envs = list(presets)
    header = ["hyperparameter", "what it is", "default", *[f"`{e}`" for e in envs]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for hp in in_signature_order(ALGORITHMS[algo].fn, config):
        what = hp.help.replace("|", "\\|") + (" (in `ac_kwargs`)" if hp.network else "")
        if hp.resume == "may change":
            what += "; may change on resume"
        cells = [f"`{hp.name}`", what, f"`{_fmt(hp.default)}`"]
        cells += [f"`{_fmt(presets[e][hp.name])}`" if hp.name in presets[e] else "" for e in envs]
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        f"\n\n*Generated from the fields of `{config.__module__}.{config.__name__}` and `pgrl.presets.PRESETS[{algo!r}]` "
        "when the site is built. An env column shows only the values its preset overrides; an empty cell means "
        "the default.*"
    )
    return "\n".join(lines) + note


def cli_help(args: str) -> str:
    from pgrl.cli import build_parser

    argv = [*shlex.split(args), "--help"]
    buf = io.StringIO()
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same width on every machine
    try:
        with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
            build_parser().parse_args(argv)
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "```text\n" + buf.getvalue().rstrip() + "\n```"


def cli_all() -> str:
    import argparse

    from pgrl.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    sections = []
    for name in sub.choices:
        args = "train ppo" if name == "train" else name
        note = "\n\nEvery algorithm has the same shape: `pgrl train ALGO --help`.\n" if name == "train" else "\n"
        sections.append(f"## pgrl {name}{note}\n" + cli_help(args))
    return "\n\n".join(sections)


def include(path: str) -> str:
    file = ROOT / path
    if not file.is_file():
        return f"*`{path}` is not in this checkout yet; the benchmark scripts in `benchmarks/` write it.*"
    text = file.read_text(encoding="utf-8")
    text = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
    folder = Path(path).parent.as_posix()

    def relink(m: re.Match[str]) -> str:  # links relative to that file do not resolve inside the site
        bang, label, target = m.group(1), m.group(2), m.group(3)
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            return m.group(0)
        where = f"`{folder}/{target}`" if folder != "." else f"`{target}`"
        return f"{label or 'image'} ({where})" if not bang else f"*(image: {where})*"

    return re.sub(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)", relink, text)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    def replace(m: re.Match[str]) -> str:
        kind, arg = m.group(1), (m.group(2) or "").strip()
        if kind == "defaults":
            return defaults_table(arg)
        if kind == "cli":
            return cli_help(arg)
        if kind == "cli-all":
            return cli_all()
        return include(arg)

    return MARKER.sub(replace, markdown)


# Pages other work streams write; the site builds (without the nav entry) until they exist.
OPTIONAL_PAGES = {"scaling.md"}


def on_config(config: Any, **kwargs: Any) -> Any:
    docs_dir = Path(config["docs_dir"])

    def present(item: Any) -> bool:
        page = next(iter(item.values())) if isinstance(item, dict) else item
        return not (isinstance(page, str) and page in OPTIONAL_PAGES and not (docs_dir / page).is_file())

    if config.get("nav"):
        config["nav"] = [item for item in config["nav"] if present(item)]
    return config
