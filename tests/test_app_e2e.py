"""End to end: ``streamlit run app.py`` headless, driven in a real headless Chromium.

Each page is opened by its URL, must render its title with no error element, and is saved as a
screenshot under ``test-artifacts/screenshots/<page>.png``. On Predict a text is typed and
classified, so the screenshot shows a prediction.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the ``selenium`` pip package;
skipped with the reason when one is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")

# (url path, file name, the page's title)
PAGES = [
    ("", "home", "HPT — hierarchical text classification"),
    ("data", "data", "Data"),
    ("train", "train", "Train"),
    ("results", "results", "Results"),
    ("predict", "predict", "Predict"),
    ("label_words", "label_words", "Label words"),
]
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Set to a workspace folder to drive the app over it instead of the tiny test run (how the README's
#: screenshots are made: a workspace with demo runs, then copy test-artifacts/screenshots to docs/).
WORKSPACE = os.environ.get("HPT_E2E_WORKSPACE")
RUN = os.environ.get("HPT_E2E_RUN")  # the run to show (?run=…); default: the app's choice
TEXT = ("Hello, my card was declined twice when I tried to pay this month's bill online." if WORKSPACE
        else "the striker scored a penalty goal on the pitch")


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    if WORKSPACE:
        workspace = Path(WORKSPACE).resolve()
    else:
        trained_run = request.getfixturevalue("trained_run")
        workspace = tmp_path_factory.mktemp("e2e-workspace")
        shutil.copytree(trained_run, workspace / "runs" / trained_run.name)
    logs = tmp_path_factory.mktemp("e2e-logs")
    port = _free_port()
    log = open(logs / "streamlit.log", "w")
    env = {**os.environ, "HPT_WORKSPACE": str(workspace), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                pytest.fail("streamlit did not start:\n" + (logs / "streamlit.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver packages "
                    "(apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="the e2e test drives Chromium with selenium: pip install selenium")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hpt-e2e-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1000", "--force-device-scale-factor=1",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout: float, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what}")


def _settled(driver, title: str, timeout: float = 90) -> None:
    """Wait until the page's title is shown and the script run has ended (Streamlit marks it on stApp)."""
    from selenium.webdriver.common.by import By

    def ready(d):
        app = d.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
        if not app or app[0].get_attribute("data-test-script-state") != "notRunning":
            return False
        return title in [h.text for h in d.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] h1')]

    _wait(driver, ready, timeout, f"the page {title!r} to render")
    time.sleep(1.5)  # charts draw after the script run ends
    _wait(driver, ready, timeout, f"the page {title!r} to render")


def _screenshot(driver, name: str) -> Path:
    """Whole page: Streamlit scrolls inside its main block, so grow the window to the content first."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return m ? m.scrollHeight : document.body.scrollHeight;")
    driver.set_window_size(1400, max(900, min(int(height) + 40, 5000)))
    time.sleep(1.0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


def _no_errors(driver, page: str) -> None:
    from selenium.webdriver.common.by import By

    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ERRORS)]
    assert not errors, f"{page}: error elements on the page: {errors}"


@pytest.mark.parametrize("path,name,title", PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_without_errors(browser, server, path, name, title):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/{path}" + (f"?run={RUN}" if RUN else ""))
    _settled(browser, title)
    # The shared sidebar is there on every page, also when the page is the first one opened.
    sidebar = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]')
    assert "Current dataset" in sidebar.text
    if name == "train":  # show the launch form
        browser.find_element(By.XPATH, "//summary[contains(., 'New run')]").click()
        time.sleep(1.0)
    if name == "predict":
        box = browser.find_element(By.CSS_SELECTOR, "textarea")
        box.send_keys(TEXT)
        button = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button") if b.text.strip().endswith("Predict"))
        button.click()
        _wait(browser, lambda d: "Latency" in d.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text, 60,
              "the prediction")
        _settled(browser, title)
    _no_errors(browser, name)
    assert _screenshot(browser, name).stat().st_size > 10_000
    if name == "results":  # the second tab: runs compared (Table 3, Figure 4, dev curves)
        browser.find_element(By.XPATH, "//*[@data-testid='stTab'][contains(., 'Compare runs')]").click()
        _wait(browser, lambda d: "Ablations (Table 3)" in d.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text,
              30, "the comparison tab")
        time.sleep(1.5)
        _no_errors(browser, "results (compare runs)")
        _screenshot(browser, "results_compare")
