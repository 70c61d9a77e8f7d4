"""The report in a real browser: headless Chromium renders it, offline, not blank, and
prints it on at most four A4 pages with no page left mostly blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nof1.cli.demo import run_demo, run_sequential_demo

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


@pytest.fixture(scope="module")
def sequential_report(tmp_path_factory) -> Path:
    return run_sequential_demo(tmp_path_factory.mktemp("browser") / "seq").report


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


def _page_margins_mm(html: str) -> tuple[float, float]:
    """Top and bottom margin of the report's ``@page`` rule (CSS shorthand, in mm)."""
    rule = re.search(r"@page\s*\{[^}]*margin:\s*([^;}]+)", html)
    assert rule, "the report sets no @page margin"
    sizes = [float(v) for v in re.findall(r"([\d.]+)mm", rule.group(1))]
    assert sizes, rule.group(1)
    top = sizes[0]
    bottom = sizes[2] if len(sizes) > 2 else top
    return top, bottom


def _printed_fill(pdf: Path, margins_mm: tuple[float, float]) -> list[float]:
    """How far down each page's printable height the ink reaches, from 0 to 1.

    The share of the printable height (the page less its top and bottom margins) above
    the page's last row with any ink: a full page is close to 1, and a page with a lone
    heading at its top close to 0, whatever lies between.
    """
    import pypdfium2 as pdfium

    fills = []
    doc = pdfium.PdfDocument(str(pdf))
    try:
        for page in doc:
            pixels = np.asarray(page.render(scale=1).to_pil().convert("L"))
            mm = pixels.shape[0] / 297.0
            top, bottom = margins_mm[0] * mm, margins_mm[1] * mm
            ink = np.flatnonzero((pixels < 235).any(axis=1))
            last = ink[-1] + 1 if len(ink) else top
            fills.append(round(float((last - top) / (pixels.shape[0] - top - bottom)), 3))
            page.close()
    finally:
        doc.close()
    return fills


@pytest.mark.parametrize("which", ["report", "sequential_report"])
def test_prints_on_at_most_four_a4_pages_none_mostly_blank(which, request, tmp_path):
    """The clinician prints the report: at most 4 A4 pages, none under 40% filled but the
    last (a page two-thirds blank is a forced break or a figure that would not fit)."""
    html = request.getfixturevalue(which)
    binary = _chromium()
    pdf = tmp_path / "report.pdf"
    done = _run(
        binary, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", f"file://{html}"
    )
    assert pdf.exists(), done.stderr[-2000:]
    fills = _printed_fill(pdf, _page_margins_mm(html.read_text(encoding="utf-8")))
    assert 2 <= len(fills) <= 4, fills
    assert all(f >= 0.40 for f in fills[:-1]), fills
    assert fills[-1] > 0.05, fills  # the last page holds more than a stray line


def test_fill_counts_a_lone_heading_as_empty(tmp_path):
    """The measure itself: a page with only a heading is nearly empty, a full one is not."""
    binary = _chromium()
    page = tmp_path / "page.html"
    page.write_text(
        "<style>@page { size: A4; margin: 12mm 12mm 12mm; } p { margin: 0; }</style>"
        "<h2>Limitations</h2><div style='break-before: page'></div>" + "<p>line</p>" * 45,
        encoding="utf-8",
    )
    pdf = tmp_path / "page.pdf"
    _run(binary, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", f"file://{page}")
    heading, full = _printed_fill(pdf, (12.0, 12.0))
    assert heading < 0.1
    assert full > 0.7
