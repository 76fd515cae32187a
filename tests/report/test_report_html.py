"""The HTML report is self-contained and renders in headless Chromium with names, sections and charts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from smartsession.report.commands import report_main

from .conftest import ABSENT, STUDENTS, Recorded

SECTIONS = (
    "What these numbers mean",
    "The class over time",
    "State timeline per student",
    "Attendance",
    "Time in each state",
    "Segments",
    "Alerts by reason",
)


def rgb_pixels(image: Any) -> list[tuple[int, int, int]]:
    data = image.tobytes()
    return list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed (Debian package 'chromium': run scripts/setup as root)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def page(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    assert report_main(["-c", str(recorded.teacher_toml), "--format", "html", "-o", str(out)]) == 0
    return out


def test_page_is_self_contained(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for forbidden in ("http://", "https://", "<script", "src=", "<link", "url(", "@import", "<img"):
        assert forbidden not in text, forbidden
    assert text.count("<svg") == 2
    assert "@media print" in text
    assert 'class="run confused"' in text or 'class="run alert"' in text


def test_rendered_text_has_names_sections_and_meaning(page: Path, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
    text = re.sub(r"<[^>]+>", " ", dom)
    text = re.sub(r"\s+", " ", text)
    for section in SECTIONS:
        assert section in text
    for name, _, _ in STUDENTS.values():
        assert name in text
    assert f"Absent: {ABSENT[1]}" in text
    assert "Late: Edsger Dijkstra" in text
    assert "not verdicts" in text and "for a human to review" in text
    assert "Recursion: worked example" in text


def test_screenshot_shows_charts(page: Path, tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "report.png"
    chromium(f"--screenshot={png}", "--window-size=1200,2000", page.as_uri(), profile=tmp_path / "profile")
    with Image.open(png) as image:
        assert image.size == (1200, 2000)
        rgb = image.convert("RGB")
    small = rgb.resize((300, 500))
    pixels = rgb_pixels(small)
    non_white = sum(1 for p in pixels if min(p) < 235) / len(pixels)
    assert non_white > 0.05, f"page looks blank ({non_white:.1%} non-white)"
    colours = {(r // 32, g // 32, b // 32) for r, g, b in pixels}
    assert len(colours) >= 12, f"only {len(colours)} colour classes"

    # the state colours of the timeline and the chart lines are on the page
    def near(target: tuple[int, int, int]) -> int:
        return sum(1 for p in rgb_pixels(rgb) if sum(abs(a - b) for a, b in zip(p, target, strict=True)) < 40)

    assert near((0x2E, 0x7D, 0x32)) > 500  # Focused green
    assert near((0x15, 0x65, 0xC0)) > 100  # attention line blue
