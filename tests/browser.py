"""A real headless Chromium for the step-through page: Debian's ``chromium`` and ``chromium-driver``,
driven by ``selenium``. Nothing is downloaded: selenium is pointed at the installed chromedriver
and told to stay offline, and Chromium is started without its background networking.

Used by ``tests/test_stepper_browser.py``, and run as a script to make the README's screenshot
by the same code path::

    python tests/browser.py docs/watch_backprop.png
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never fetch a driver or a browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WINDOW = (1280, 720)
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CHAINRULE_ARTIFACTS", ROOT / "out" / "test-artifacts"))
"""Where the browser tests leave their screenshots (CHAINRULE_ARTIFACTS overrides)."""

_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
)


def missing() -> str | None:
    """Why the browser cannot run here (None when it can): what to install."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium, or the dev extra)"
    for program, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER)):
        if not os.access(path, os.X_OK):
            return f"{program} is not installed (Debian/Ubuntu: apt-get install chromium chromium-driver)"
    return None


class Browser:
    """One headless Chromium window of 1280×720, with its console and network logs."""

    def __init__(self, width: int = WINDOW[0], height: int = WINDOW[1]) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="chainrule-chromium-")  # a new, empty profile
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*_FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.execute_cdp_cmd(  # the page's viewport is exactly the window asked for
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def open(self, path: Path) -> None:
        """Load a file by its file:// URL (as a user double-clicking it would) and forget old logs."""
        self.logs()
        self.driver.get(path.resolve().as_uri())

    def press(self, key: str, times: int = 1) -> None:
        """Press a key (selenium's Keys name, e.g. "ARROW_RIGHT", or a character) on the page."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        actions = ActionChains(self.driver)
        for _ in range(times):
            actions.send_keys(getattr(Keys, key, key))
        actions.perform()

    def text(self, element_id: str) -> str:
        return self.driver.find_element("id", element_id).text

    def script(self, code: str, *arguments: object) -> object:
        return self.driver.execute_script(code, *arguments)

    def logs(self) -> tuple[list[dict], list[dict]]:
        """(console messages, performance events) since the last call."""
        import json

        console = self.driver.get_log("browser")
        events = [json.loads(entry["message"])["message"] for entry in self.driver.get_log("performance")]
        return console, events

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)


def show_step(browser: Browser, page: Path, step: int) -> None:
    """Open ``page`` and go to ``step`` (from 1) with the keyboard: Home, then → as often as needed."""
    browser.open(page)
    browser.press("HOME")
    browser.press("ARROW_RIGHT", step - 1)


def screenshot_step(browser: Browser, page: Path, step: int, path: Path) -> Path:
    """A screenshot of ``page`` at ``step``: the test's artifact and the README's picture."""
    show_step(browser, page, step)
    return browser.screenshot(path)


def readme_screenshot(path: Path) -> Path:
    """The README's picture: the seed neuron's page at dL/dz, made as the browser test makes its own."""
    sys.path.insert(0, str(ROOT / "demos"))
    from draw_graph import seeds_neuron

    from engine import stepper

    page = stepper(seeds_neuron()["L"])
    step = 1 + [step.title for step in page.steps].index("dL/dz")
    with tempfile.TemporaryDirectory() as folder:
        browser = Browser()
        try:
            return screenshot_step(browser, page.save(Path(folder) / "neuron_backprop.html"), step, path)
        finally:
            browser.quit()


if __name__ == "__main__":
    reason = missing()
    if reason:
        raise SystemExit(f"cannot take the screenshot: {reason}")
    print(readme_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/watch_backprop.png")))
