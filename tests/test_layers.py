"""The stages import bottom-up only: each stage loads in a fresh interpreter without any
stage above it (no import cycles; a lower stage never imports a higher one)."""

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

#: The stages in data-flow order, lowest first; modules of one stage may import each other.
LAYERS = (
    ("nof1.errors",),
    ("nof1.files",),
    ("nof1.stopping",),
    ("nof1.protocol",),
    ("nof1.randomization",),
    ("nof1.blinding",),
    ("nof1.entries", "nof1.chain"),
    ("nof1.diary",),
    ("nof1.integrity",),
    ("nof1.trial",),
    ("nof1.monitoring",),
    ("nof1.status", "nof1.reminders"),
    ("nof1.series",),
    ("nof1.csv_input",),
    ("nof1.models.base", "nof1.models.exposure"),
    ("nof1.models.binary",),
    ("nof1.models.priors",),
    ("nof1.models.regression",),
    ("nof1.models.exact",),
    ("nof1.models.ar1lik",),
    ("nof1.models.personal",),
    ("nof1.models.pooled", "nof1.models.fastpool", "nof1.models.logistic"),
    ("nof1.summary",),
    ("nof1.blinding_assessment",),
    ("nof1.verdict",),
    ("nof1.analysis",),
    ("nof1.interim",),
    ("nof1.report", "nof1.report.plots", "nof1.report.build", "nof1.report.make"),
    ("nof1.simulate",),
    ("nof1.anonymise",),
    ("nof1.pool",),
    ("nof1.report.pooled",),
    ("nof1.design.fixed", "nof1.design"),
    ("nof1.design.blinding", "nof1.design.boundaries", "nof1.design.sequential"),
    ("nof1.demo",),
)
#: Above every stage: the command line and the package's own entry points.
TOP = ("nof1", "nof1.__main__", "nof1.models", "nof1.cli")


def test_every_module_has_a_stage():
    found = {
        m.name
        for m in pkgutil.walk_packages(nof1.__path__, "nof1.")
        if not m.name.startswith("nof1.cli.")
    }
    listed = {m for layer in LAYERS for m in layer}
    assert found - set(TOP) == listed, "place new modules in LAYERS"


#: Run in a new interpreter that loads no nof1 module itself: for each stage, a forked
#: child imports that stage and reports which nof1 modules it loaded. Third-party packages
#: are loaded once, before forking, only to keep the test fast.
_PROBE = """
import importlib, json, os, sys
import numpy, pandas, scipy.special, scipy.stats, pymc, pytensor  # noqa: F401  (speed only)
assert not [m for m in sys.modules if m.startswith("nof1")]
loaded = []
for layer in json.loads(sys.argv[1]):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        try:
            for m in layer:
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
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(LAYERS)], cwd=ROOT, capture_output=True,
        text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    problems = {}
    for i, loaded in enumerate(json.loads(done.stdout)):
        assert isinstance(loaded, list), (LAYERS[i], loaded)
        above = {m for layer in LAYERS[i + 1 :] for m in layer} - set(LAYERS[i])
        if set(loaded) & above:
            problems[LAYERS[i][0]] = sorted(set(loaded) & above)
    assert problems == {}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every nof1 import in a file, function-level ones included, except
    those under ``if TYPE_CHECKING:`` (they never run)."""
    out = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nof1"):
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names if a.name.startswith("nof1"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def test_no_stage_imports_a_higher_one_even_inside_a_function():
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    upward = []
    for module, i in rank.items():
        path = ROOT / Path(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for line, target in _imports(path):
            if rank.get(target, -1) > i:
                upward.append(f"{module}:{line} imports {target}")
    assert upward == []
