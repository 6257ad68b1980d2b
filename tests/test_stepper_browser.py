"""The step-through page in a real headless Chromium: keys, buttons, highlights, numbers, no requests.

One browser for the module (Debian's chromium + chromium-driver, driven by selenium; see
tests/browser.py). Skipped, with one line saying what to install, where there is no browser.
Screenshots are left in out/test-artifacts/ (CHAINRULE_ARTIFACTS overrides).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import ARTIFACTS, WINDOW, Browser, missing, show_step
from test_draw import load_demo, seeds_neuron

from engine import explain, stepper

reason = missing()
if reason and os.environ.get("CHAINRULE_REQUIRE_BROWSER"):  # CI (.ci/run): no browser is a failure
    raise RuntimeError(f"CHAINRULE_REQUIRE_BROWSER is set but {reason}")
if reason:
    pytest.skip(f"browser tests not run: {reason}", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    started = Browser()
    yield started
    started.quit()


@pytest.fixture(scope="module")
def neuron(tmp_path_factory):
    """The seed neuron's loss, its page (as a Stepper) and the page's file."""
    loss = seeds_neuron(backward=False)["L"]
    page = stepper(loss)
    return loss, page, page.save(tmp_path_factory.mktemp("pages") / "neuron_backprop.html")


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    loss = load_demo("draw_graph").small_mlp_loss(sizes=(3, 1))
    page = stepper(loss)
    return loss, page, page.save(tmp_path_factory.mktemp("pages") / "mlp_backprop.html")


def words(text: str) -> str:
    return " ".join(text.split())


def explained(loss, of: str = "L") -> dict[str, str]:
    """explain's steps by node name: 'z' -> the whole step (its lines joined)."""
    steps: dict[str, str] = {}
    name = None
    for line in explain(loss, max_steps=1000, max_terms=1000).splitlines():
        match = re.match(rf"d{of}/d(\S+|\(.+?\)) = ", line)
        if match:
            name = match.group(1)
            steps[name] = line
        elif line.startswith(" ") and name and not line.lstrip().startswith("where"):
            steps[name] += " " + line.strip()
    return {name.removeprefix("(").removesuffix(")"): step for name, step in steps.items()}


def result(step_text: str) -> float:
    return float(step_text.rsplit(" = ", 1)[1])


def current_box(browser: Browser) -> tuple[str, str]:
    """(name, grad text) of the value box marked as this step's node (not its op or copies)."""
    return tuple(browser.script(
        "var box = document.querySelector('svg g.current.value');"
        "var texts = Array.from(box.querySelectorAll('text')).map(function (t) { return t.textContent; });"
        "return [texts[0], texts[texts.length - 1]];"
    ))


def test_every_step_with_the_keyboard_shows_the_steps_text(browser, neuron):
    _, page, path = neuron
    browser.open(path)
    browser.press("HOME")
    for number, step in enumerate(page.steps, start=1):
        assert browser.text("step-number") == str(number)
        assert words(browser.text("step")) == words(step.text)
        browser.press("ARROW_RIGHT")
    assert browser.text("step-number") == str(len(page.steps))  # → at the last step stays there
    browser.press("HOME")
    assert browser.text("step-number") == "1"
    browser.press("END")
    assert browser.text("step-number") == str(len(page.steps))
    browser.press("ARROW_LEFT", 3)
    assert browser.text("step-number") == str(len(page.steps) - 3)


@pytest.mark.parametrize("name", ["L", "t1", "a", "z", "w", "b"])
def test_backward_steps_carry_explains_numbers_and_light_up_their_node(browser, neuron, name):
    loss, page, path = neuron
    steps = explained(loss)
    titles = [step.title for step in page.steps]
    show_step(browser, path, titles.index(f"dL/d{name}") + 1)
    text = words(browser.text("step"))
    assert "BACKWARD PASS" in browser.text("panel")
    if name == "L":
        assert "dL/dL = 1" in text
        return
    expected = steps[name]
    if " + " not in expected.split(" = ")[1]:
        assert words(expected) in text  # a single use: explain's very line
    else:  # several uses: each term's numbers, and the same sum
        numbers = expected.split(" = ")[-2]
        for term in numbers.split(" + "):
            assert words(term) in text
    assert text.endswith(f"= {expected.rsplit(' = ', 1)[1]}")
    box_name, grad = current_box(browser)
    assert box_name == name
    assert grad == f"grad {expected.rsplit(' = ', 1)[1]}"  # the box shows the number just found
    assert result(expected) == pytest.approx(result(text), rel=1e-12)


def test_a_node_used_twice_shows_both_contributions_and_their_sum(browser, mlp):
    loss, page, path = mlp
    titles = [step.title for step in page.steps]
    show_step(browser, path, titles.index("dL/dW[1]_0,0") + 1)
    text = browser.text("step")
    assert "is used 2 times" in text
    assert "from z[1]_0:" in text and "from z[1]_0#2:" in text
    expected = explained(loss)["W[1]_0,0"]
    assert text.rstrip().endswith(f"= {expected.rsplit(' = ', 1)[1]}")
    carrying = browser.script("return Array.from(document.querySelectorAll('svg g.edge.carrying')).length")
    assert carrying == 2  # one edge for each use lights up
    sources = browser.script(
        "return Array.from(document.querySelectorAll('svg g.value.source'))"
        ".map(function (g) { return g.querySelector('text').textContent; }).sort()"
    )
    assert sources == ["z[1]_0", "z[1]_0#2"]


def test_nodes_not_reached_are_dimmed_and_their_numbers_hidden(browser, neuron):
    _, page, path = neuron
    browser.open(path)
    dim = "return Array.from(document.querySelectorAll('svg g.value.unreached')).length"
    hidden = (
        "return Array.from(document.querySelectorAll('svg g.value text'))"
        ".filter(function (t) { return / \\?$/.test(t.textContent); }).length"
    )
    values = len(page.steps) - sum(step.phase == "forward" for step in page.steps)  # one backward step a node
    assert browser.script(dim) == values - 2  # at the start only the leaves w and b are known
    assert browser.script(hidden) == (values - 2) + values  # their data, and every grad
    forward = sum(step.phase == "forward" for step in page.steps)
    browser.press("ARROW_RIGHT", forward)  # the first backward step: every value known, no grad but L's
    assert browser.script(dim) == 0
    assert browser.script(hidden) == values - 1
    browser.press("END")
    assert browser.script(hidden) == 0


def test_buttons_slider_and_tab_work_without_a_mouse(browser, neuron):
    _, page, path = neuron
    browser.open(path)
    driver = browser.driver


    def tab_order() -> list[str]:
        driver.find_element("tag name", "h1").click()  # Tab from the top of the page
        focused = []
        for _ in range(8):  # the graph (it scrolls when zoomed), then every control that can act
            browser.press("TAB")
            focused.append(driver.switch_to.active_element.get_attribute("id"))
        return focused[: focused.index("zoom") + 1]

    assert tab_order()[-4:] == ["slider", "next", "last", "zoom"]  # First and Previous: disabled at step 1
    browser.press("ARROW_RIGHT")  # the keys work wherever the focus is (but in the slider: its own)
    assert tab_order()[-6:] == ["first", "prev", "slider", "next", "last", "zoom"]
    driver.find_element("id", "slider").click()  # the slider, focused
    browser.press("HOME")
    browser.press("ARROW_RIGHT", 4)  # the slider's own keys move it, and the page follows
    assert browser.text("step-number") == "5"
    browser.press("TAB")
    assert driver.switch_to.active_element.get_attribute("id") == "next"
    browser.press("ENTER")
    browser.press("SPACE")
    assert browser.text("step-number") == "7"
    driver.find_element("id", "prev").click()
    assert browser.text("step-number") == "6"
    driver.find_element("id", "last").click()
    assert driver.find_element("id", "next").get_attribute("disabled") == "true"
    assert driver.find_element("id", "slider").get_attribute("value") == str(len(page.steps))


def test_the_page_fits_1280_by_720_and_reads(browser, neuron):
    path = neuron[2]
    browser.open(path)
    size = browser.script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= WINDOW[0] and size[1] <= WINDOW[1]  # no scrolling of the page itself
    # every control is on screen, and the graph's box text is drawn at least 9 px high
    for control in ("first", "prev", "slider", "next", "last", "step-number", "zoom"):
        rect = browser.script(f"return document.getElementById('{control}').getBoundingClientRect().toJSON()")
        assert rect["left"] >= 0 and rect["right"] <= WINDOW[0] and rect["bottom"] <= WINDOW[1]
    smallest = browser.script(
        "return Math.min.apply(null, Array.from(document.querySelectorAll('svg g.value text'))"
        ".map(function (t) { return t.getBoundingClientRect().height; }))"
    )
    assert smallest >= 9


def test_no_console_errors_and_no_network_requests(browser, neuron, mlp):
    for _, _, path in (neuron, mlp):
        browser.open(path)
        browser.press("END")
        browser.press("HOME")
        console, events = browser.logs()
        assert [entry for entry in console if entry["level"] in ("SEVERE", "WARNING")] == []
        sent = [event["params"] for event in events if event["method"] == "Network.requestWillBeSent"]
        requested = [params["request"]["url"] for params in sent]
        assert requested == [path.resolve().as_uri()]  # the page itself, nothing else
        resources = browser.script("return performance.getEntriesByType('resource').length")
        assert resources == 0


def test_screenshots_are_left_as_artifacts(browser, neuron, mlp):
    for (_, page, path), title in ((neuron, "dL/dz"), (mlp, "dL/dW[1]_0,0")):
        step = [s.title for s in page.steps].index(title) + 1
        show_step(browser, path, step)
        shot = browser.screenshot(ARTIFACTS / f"{Path(path).stem}_step{step}.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000  # a picture, not a blank page


def test_the_jupyter_frame_shows_the_same_working_page(browser, neuron, tmp_path):
    _, page, _ = neuron
    notebook = tmp_path / "notebook.html"  # what Jupyter does with _repr_html_: put it in its page
    notebook.write_text(f"<!DOCTYPE html><html><body><h1>Out[1]:</h1>{page._repr_html_()}</body></html>")
    browser.open(notebook)
    driver = browser.driver
    driver.switch_to.frame(driver.find_element("tag name", "iframe"))
    try:
        assert browser.text("step-number") == "1"
        driver.find_element("id", "next").click()
        browser.press("ARROW_RIGHT")
        assert browser.text("step-number") == "3"
        assert words(browser.text("step")) == words(page.steps[2].text)
    finally:
        driver.switch_to.default_content()
    console, events = browser.logs()
    assert [entry for entry in console if entry["level"] in ("SEVERE", "WARNING")] == []
    sent = [event["params"] for event in events if event["method"] == "Network.requestWillBeSent"]
    assert [params["request"]["url"] for params in sent if params["request"]["url"] != "about:srcdoc"] == [
        notebook.resolve().as_uri()
    ]
