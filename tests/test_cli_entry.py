"""The ``nof1`` program's entry point (nof1.cli.main)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from nof1.cli import main


@pytest.mark.parametrize(
    ("argv", "code"), [(["--version"], 0), (["status", "--trial", "/no/such/trial"], 1)]
)
def test_main_freezes_objects_before_exit_and_keeps_the_exit_code(monkeypatch, argv, code):
    calls = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(sys, "argv", ["nof1", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == code
    assert calls == ["freeze"]


def test_python_dash_m_runs_the_same_program():
    out = subprocess.run(
        [sys.executable, "-m", "nof1", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("nof1, version ")
