"""The app as a person sees it: `streamlit run` on a free local port over the fixture snapshot,
every page loaded in headless Chromium (Debian's, installed here when missing; Playwright drives
it, its own browser download is never used), no exception box and no unexpected error alert,
each page's key content visible, and a screenshot of each page under ``tests/.artifacts/``
(git-ignored) to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from snapshot_fixture import APP_PATH, FAILING_ASSET, REPO_ROOT, make_frames, write_snapshot

from orchestration import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "tests" / ".artifacts" / "screenshots"
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1440, "height": 1000}
# Present while a script run is in progress.
RUNNING = ", ".join(
    f'[data-testid="{testid}"]'
    for testid in ("stStatusWidgetRunningIcon", "stStatusWidgetRunningManIcon", "stSkeleton")
)

# (url path, title, testids of the page's key content): the url path is st.navigation's default,
# the page file's name ("" for the default page).
PAGES = [
    ("", "Overview", ["stMetric", "stVegaLiteChart"]),
    ("carriers", "Carriers", ["stDataFrame", "stVegaLiteChart"]),
    ("airports_routes", "Airports & routes", ["stDeckGlJsonChart", "stDataFrame"]),
    ("weather", "Weather", ["stVegaLiteChart"]),
    ("delay_model", "Delay model", ["stDataFrame", "stVegaLiteChart"]),
    ("pipeline_health", "Pipeline health", ["stMetric", "stDataFrame"]),
]


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when missing (about a minute, as root)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            _unavailable(f"{CHROMIUM} is missing; install it with `apt-get install chromium`.")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "chromium"],
        ):
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    assert CHROMIUM.exists()
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run dashboards/app.py` over the fixture snapshot; its base URL."""
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"RUNWAY_SERVING_DIR", "RUNWAY_WAREHOUSE", "MLFLOW_TRACKING_URI"}
    }
    env.update(RUNWAY_DATA_DIR=str(data_dir), DO_NOT_TRACK="1", MLFLOW_DISABLE_TELEMETRY="true")
    write_snapshot(data_dir / "serving" / settings.SNAPSHOT_FILE, make_frames())
    port = _free_port()
    log = (data_dir / "streamlit.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP_PATH),
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--server.headless=true",
            "--server.fileWatcherType=none",
            "--browser.gatherUsageStats=false",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (data_dir / "streamlit.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "streamlit did not answer /_stcore/health"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(chromium: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _wait_until_rendered(page) -> None:
    """Until the script run is over: no running indicator and no skeleton placeholders left."""
    page.wait_for_function(f"() => !document.querySelector('{RUNNING}')", timeout=TIMEOUT_MS)


def _screenshot_whole_page(page, path: Path) -> None:
    """Streamlit scrolls inside its main container, so a full-page screenshot is only the
    viewport: make the viewport as tall as the content first."""
    height = page.evaluate(
        """() => document.querySelector('[data-testid="stMainBlockContainer"]').scrollHeight"""
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
    page.wait_for_timeout(500)  # charts re-layout to the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)


@pytest.mark.parametrize(("url_path", "title", "key_testids"), PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_in_chromium_without_errors(browser, app_url, url_path, title, key_testids):
    page = browser.new_page(viewport=VIEWPORT)
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        page.goto(f"{app_url}/{url_path}", timeout=TIMEOUT_MS)
        page.get_by_role("heading", name=title, level=1).wait_for(timeout=TIMEOUT_MS)
        for testid in key_testids:
            page.locator(f'[data-testid="{testid}"]').first.wait_for(
                state="visible", timeout=TIMEOUT_MS
            )
        _wait_until_rendered(page)

        _screenshot_whole_page(page, SCREENSHOTS / f"{url_path or 'overview'}.png")

        assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
            '[data-testid="stException"]'
        ).all_inner_texts()
        errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        if title == "Pipeline health":
            # Red alerts are this page's content: the fixture has an asset with a failing check.
            assert any(FAILING_ASSET in error for error in errors), errors
        else:
            assert errors == []
        assert page_errors == []
        if title == "Overview":
            flights = page.locator('[data-testid="stMetric"]', has_text="Flights").first
            value = flights.locator('[data-testid="stMetricValue"]').inner_text()
            assert int(value.replace(",", "")) == len(make_frames()[("marts", "flights")])
    finally:
        page.close()
