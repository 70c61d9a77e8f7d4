"""ARCHITECTURE.md matches the tree: every module is listed, every listed path exists, and
its table of stages is the order tests/test_layers.py enforces."""

from __future__ import annotations

import re
from pathlib import Path

from test_layers import STAGES

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")


def test_every_module_is_listed_in_architecture_md():
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nof1").rglob("*.py")}
    # A package's __init__ is listed through its package, except where it holds code.
    inits = {m for m in modules if m.endswith("/__init__.py") and m != "nof1/cli/__init__.py"}
    listed = set(re.findall(r"`(nof1/[\w/]+\.py)`", TEXT))
    assert sorted(modules - inits - {"nof1/__init__.py", "nof1/__main__.py"} - listed) == []


def test_every_path_architecture_md_names_exists():
    named = set(re.findall(r"`((?:nof1|tests|docs|protocols)/[\w/.*-]*)`", TEXT))
    missing = [p for p in sorted(named) if "*" not in p and not (ROOT / p).exists()]
    assert missing == []


def test_the_table_of_stages_is_the_enforced_order():
    rows = re.findall(r"^\| (\d+) \| `(nof1\.\w+)` \|", TEXT, flags=re.M)
    assert [int(rank) for rank, _ in rows] == list(range(len(STAGES)))
    assert tuple(stage for _, stage in rows) == STAGES


def test_every_package_has_its_section():
    for package in (ROOT / "nof1").iterdir():
        if package.is_dir() and (package / "__init__.py").exists():
            assert f"### `nof1/{package.name}/`" in TEXT, package.name


def test_every_test_the_documents_name_exists():
    """docs/security.md's table of attacks (and any other document) names its tests as
    ``tests/FILE.py::name``: each must be a test function of that file."""
    documents = [
        ROOT / "README.md",
        ROOT / "ARCHITECTURE.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    named = {
        (path, name)
        for doc in documents
        for path, name in re.findall(r"(tests/\w+\.py)::(\w+)", doc.read_text(encoding="utf-8"))
    }
    assert named, "docs/security.md names its tests"
    missing = [
        f"{path}::{name}"
        for path, name in sorted(named)
        if f"def {name}(" not in (ROOT / path).read_text(encoding="utf-8")
    ]
    assert missing == []
