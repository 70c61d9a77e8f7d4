"""The stages import bottom-up only (ARCHITECTURE.md): a package never imports a package
above it, not even inside a function, the modules of one package import each other without
a cycle, and each stage loads in a fresh interpreter without any stage above it."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import nof1

ROOT = Path(__file__).resolve().parents[1]

#: The stages in data-flow order, lowest first (ARCHITECTURE.md's table, in this order).
STAGES = (
    "nof1.errors",
    "nof1.plan",
    "nof1.diary",
    "nof1.trial",
    "nof1.analysis",
    "nof1.interim",
    "nof1.design",
    "nof1.research",
    "nof1.report",
    "nof1.cli",
)
#: Above every stage: the package's own entry points.
TOP = ("nof1", "nof1.__main__")


def _modules() -> dict[str, Path]:
    """Every module of nof1, by dotted name, with its file."""
    found = {"nof1": ROOT / "nof1" / "__init__.py"}
    for m in pkgutil.walk_packages(nof1.__path__, "nof1."):
        path = ROOT / Path(*m.name.split("."))
        found[m.name] = path / "__init__.py" if m.ispkg else path.with_suffix(".py")
    return found


def _stage(module: str) -> int:
    """The rank of the stage a module belongs to; TOP ranks above every stage."""
    for i, stage in enumerate(STAGES):
        if module == stage or module.startswith(stage + "."):
            return i
    assert module in TOP, f"{module} belongs to no stage: add it to STAGES and ARCHITECTURE.md"
    return len(STAGES)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every nof1 import in a file, function-level ones included, except
    those under ``if TYPE_CHECKING:`` (they never run). ``from a import b`` names both
    ``a`` and ``a.b`` (b may be a module)."""
    out = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module == "nof1":
            # The root's lazy names stand for the modules that define them; its version
            # and error classes (nof1.errors) are the only names it defines itself.
            for a in node.names:
                target = nof1._EXPORTS.get(a.name, "nof1" if a.name != "__version__" else None)
                if target is not None:
                    out.append((node.lineno, target))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nof1"):
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names if a.name.startswith("nof1"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def test_every_module_belongs_to_a_stage():
    for module in _modules():
        _stage(module)  # asserts


def test_no_stage_imports_a_higher_one_even_inside_a_function():
    modules = _modules()
    upward = [
        f"{module}:{line} imports {target}"
        for module, path in modules.items()
        for line, target in _imports(path)
        if target in modules and _stage(target) > _stage(module)
    ]
    assert upward == []


def test_the_modules_of_a_stage_import_each_other_without_a_cycle():
    modules = _modules()
    graph = {
        m: {t for _, t in _imports(p) if t in modules and t != m and _stage(t) == _stage(m)}
        for m, p in modules.items()
    }
    # A package's __init__ may gather its modules' names; its modules never need it.
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, "import cycle: " + " -> ".join((*path[path.index(m) :], m))
        if m in done:
            return
        for t in sorted(graph[m]):
            visit(t, (*path, m))
        done.add(m)

    for m in sorted(graph):
        visit(m, ())


#: Run in a new interpreter that loads no nof1 module itself: for each stage, a forked
#: child imports every module of that stage and reports which nof1 modules it loaded.
#: Third-party packages are loaded once, before forking, only to keep the test fast.
_PROBE = """
import importlib, json, os, sys
import numpy, pandas, scipy.special, scipy.stats, pymc, pytensor  # noqa: F401  (speed only)
assert not [m for m in sys.modules if m.startswith("nof1")]
loaded = []
for group in json.loads(sys.argv[1]):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        try:
            for m in group:
                importlib.import_module(m)
            msg = sorted(m for m in sys.modules if m.startswith("nof1"))
        except BaseException as exc:
            msg = {"error": repr(exc)}
        os.write(w, json.dumps(msg).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.wait()
    loaded.append(json.loads(data))
print(json.dumps(loaded))
"""


def test_each_stage_imports_without_the_stages_above():
    modules = _modules()
    groups = [sorted(m for m in modules if _stage(m) == i) for i in range(len(STAGES))]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(groups)], cwd=ROOT, capture_output=True,
        text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    problems = {}
    for i, loaded in enumerate(json.loads(done.stdout)):
        assert isinstance(loaded, list), (STAGES[i], loaded)
        above = sorted(m for m in loaded if m != "nof1" and _stage(m) > i)
        if above:
            problems[STAGES[i]] = above
    assert problems == {}
