"""The package keeps the shape the design issue gave it: small classes and functions, typed configuration
instead of string lookups, and modules layered without cycles or function-level imports of each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pgrl"
FILES = sorted(PACKAGE.rglob("*.py"))
MAX_CLASS, MAX_FUNCTION = 250, 60


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _size_without_docstrings(node: ast.AST) -> int:
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    lines = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines -= set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return len(lines)


def test_no_class_over_250_lines_and_no_function_over_60() -> None:
    too_big = []
    for path in FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
                size = _size_without_docstrings(node)
                if size > limit:
                    too_big.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({size} > {limit})")
    assert not too_big, too_big


def test_no_untyped_hyperparameter_lookups() -> None:
    lookups = [
        f"{path.relative_to(PACKAGE.parent)}:{i}"
        for path in FILES
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bhp\[|\bhp\.get\(", line)
    ]
    assert not lookups, lookups


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(pgrl modules imported at module level outside TYPE_CHECKING, pgrl imports inside functions)."""
    tree = ast.parse(path.read_text())
    top, nested = set(), []
    type_checking = {
        id(n)
        for stmt in tree.body
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)
        for n in ast.walk(stmt)
    }

    def names(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        return [base] + [f"{base}.{a.name}" for a in node.names]

    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    in_function = {id(n) for f in functions for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in type_checking:
            pgrl_names = [n for n in names(node) if n == "pgrl" or n.startswith("pgrl.")]
            if id(node) in in_function:
                nested += [f"{path.name}:{node.lineno} {n}" for n in pgrl_names]
            else:
                top |= set(pgrl_names)
    return top, nested


def test_no_function_level_imports_of_pgrl_modules() -> None:
    nested = [n for path in FILES for n in _imports(path)[1]]
    assert not nested, nested


def test_modules_are_layered_without_cycles() -> None:
    modules = {_module(p): p for p in FILES}
    graph = {
        name: {m for m in _imports(path)[0] if m in modules and m != name and not name.startswith(m + ".")}
        for name, path in modules.items()
    }
    graph = {k: {d for d in v if not (k == "pgrl" or d == "pgrl")} for k, v in graph.items()}  # the root re-exports
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(node) :], node]))
        if node in done:
            return
        for dep in sorted(graph[node]):
            visit(dep, [*stack, node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])


def test_run_directory_file_names_live_in_rundir() -> None:
    literal = re.compile(r"""["'](progress\.txt|config\.json|checkpoint\.pt|eval\.json)["']""")
    hits = [
        f"{path.relative_to(PACKAGE.parent)}:{i}"
        for path in FILES
        if path.name != "rundir.py"
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line) and not line.lstrip().startswith(("#", '"""'))
    ]
    assert not hits, hits
