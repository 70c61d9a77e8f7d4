"""The report in a real browser: headless Chromium renders it, offline, not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nof1.cli.demo import run_demo

pytestmark = pytest.mark.browser


def _chromium() -> str:
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("chromium not installed: apt-get install chromium")


def _run(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1280,4000",
    ]
    return subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return run_demo(tmp_path_factory.mktemp("browser") / "demo", seed=1).report


def test_screenshot_is_not_blank(report, tmp_path):
    import matplotlib.image as mpimg

    binary = _chromium()
    png = tmp_path / "report.png"
    done = _run(binary, tmp_path, f"--screenshot={png}", f"file://{report}")
    assert png.exists(), done.stderr[-2000:]
    assert png.stat().st_size > 100_000
    pixels = mpimg.imread(png)
    assert pixels.shape[:2] == (4000, 1280)
    grey = pixels[..., :3].mean(axis=2)
    # A page of text and figures: not one colour, and mostly light (white paper).
    assert grey.std() > 0.1
    assert 0.6 < grey.mean() < 0.99
    # The coloured figures and chips (the first screen is the longer summary box, so the
    # window is tall enough to hold the daily-scores and posterior figures): some pixels
    # far from grey.
    colour = np.ptp(pixels[..., :3], axis=2)
    assert (colour > 0.1).mean() > 0.02


def test_dom_has_the_title(report, tmp_path):
    binary = _chromium()
    done = _run(binary, tmp_path, "--dump-dom", f"file://{report}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "<title>N-of-1 trial report: oral magnesium versus placebo for CRPS type 1 pain</title>"
        in done.stdout
    )
    assert 'id="summary"' in done.stdout
