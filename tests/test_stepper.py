"""engine.stepper / save_html without a browser: one self-contained file, explain's numbers, bounds.

What a person sees in the page is tested in a real browser by tests/test_stepper_browser.py.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_draw import load_demo, seeds_neuron
from test_explain import count_expressions, result

from engine import (
    GraphTooLargeError,
    GraphvizNotFoundError,
    Stepper,
    Value,
    explain,
    gc_paused,
    linear,
    save_html,
    stepper,
    sum_values,
    topological_order,
)


class _Resources(HTMLParser):
    """Every element and every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset", "data") and value:
                self.links.append((tag, name, value))

    handle_startendtag = handle_starttag


def parsed(page: str) -> _Resources:
    parser = _Resources()
    parser.feed(page)
    return parser


def page_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="steps-data">(.*?)</script>', page, re.DOTALL)
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def neuron():
    n = seeds_neuron(backward=False)
    return n, stepper(n["L"])


def test_the_page_is_one_file_that_fetches_nothing(neuron):
    page = neuron[1].html
    found = parsed(page)
    assert found.links == [("link", "href", "data:,")]  # the icon, inline: not even a favicon request
    assert found.tags.count("script") == 2 and found.tags.count("svg") == 1 and "iframe" not in found.tags
    assert "default-src 'none'" in page  # the browser itself refuses any fetch
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/(2000/svg|1999/xlink))", page)
    assert 'id="step"' in page and 'id="step-number"' in page


def test_the_steps_are_both_passes_with_explains_numbers(neuron):
    n, page = neuron
    nodes = topological_order(n["L"])
    leaves = [v for v in nodes if not v.parents]
    forward = [s for s in page.steps if s.phase == "forward"]
    backward = [s for s in page.steps if s.phase == "backward"]
    assert len(forward) == 1 + len(nodes) - len(leaves)  # the leaves in one step, then one per op
    assert len(backward) == len(nodes)  # dL/dL = 1, then one gradient per node
    assert page.steps == forward + backward
    assert forward[0].lines == ("b = -0.4, w = 0.8",)
    z = next(s for s in forward if s.title == "Compute z")
    assert z.lines == ("z = w·1.5+b", "  = 1.2+(-0.4)", "  = 0.8")  # z = w·x + b with x = 1.5
    explained = explain(n["L"], max_steps=100)
    for step in backward[1:]:  # explain's last number for the node ends the step
        name = step.title.removeprefix("dL/d")
        assert float(step.lines[-1].rsplit(" = ", 1)[1]) == result(explained, name)
    a = n["a"].data
    dz = next(s for s in backward if s.title == "dL/dz")
    assert dz.lines[-1] == f"      = {a - 1.0:.4g}"  # dz = a − y
    assert dz.lines[-2] == f"      = ({-1 / a:.4g}) · {a * (1 - a):.4g}"  # dL/da · σ'(z)
    da = next(s for s in backward if s.title == "dL/da")
    assert "from ln a:" in da.lines and "from 1−a:" in da.lines and "sum:" in da.lines


def test_highlights_name_the_drawings_own_ids(neuron):
    page = neuron[1].html
    ids = set(re.findall(r'<g id="([^"]+)"', page))
    data = page_data(page)
    for step in data["steps"]:
        assert step["current"] and set(step["current"] + step["sources"] + step["edges"]) <= ids
    assert set(data["boxes"]) | set(data["ops"]) | set(data["edges"]) <= ids
    dz = next(s for s in data["steps"] if s["title"] == "dL/dz")
    assert len(dz["edges"]) == 1 and len(dz["sources"]) == 1  # z → σ: one use, from a


def test_no_grad_changes_and_the_same_graph_gives_the_same_page():
    first, second = seeds_neuron(backward=False), seeds_neuron(backward=False)
    first["L"].backward()
    first["L"].backward()  # grads doubled: the page shows the chain rule's own numbers anyway
    before = [v.grad for v in topological_order(first["L"])]
    assert stepper(first["L"]).html == stepper(second["L"]).html
    assert [v.grad for v in topological_order(first["L"])] == before


def test_save_html_writes_the_page_and_returns_its_path(tmp_path, neuron):
    n, page = neuron
    path = save_html(n["L"], tmp_path / "sub" / "neuron")
    assert path == tmp_path / "sub" / "neuron.html"
    assert path.read_text(encoding="utf-8") == page.html
    assert page.save(tmp_path / "again.html").read_text(encoding="utf-8") == page.html
    assert sorted(p.name for p in path.parent.iterdir()) == ["neuron.html"]  # no temporary left


def test_jupyter_shows_the_page_in_a_frame_of_its_own(neuron):
    page = neuron[1]
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=")
    source = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert html.unescape(source) == page.html
    assert "23 steps, 11 forward and 12 backward" in repr(page) and isinstance(page, Stepper)


def test_labels_cannot_break_out_of_the_page():
    x = Value(2.0, label='</script><script>alert("x")</script>')
    y = (x * 3).tanh()
    y.label = '<img src=//evil.invalid/a.png onerror=alert(1)> & "q"'
    page = stepper(y, title="<b>title</b>").html
    found = parsed(page)
    assert found.tags.count("script") == 2 and "img" not in found.tags and "b" not in found.tags
    assert len(found.links) == 1
    steps = page_data(page)["steps"]
    assert steps[0]["lines"] == ['</script><script>alert("x")</script> = 2']  # data, shown as text


def test_a_graph_past_max_nodes_is_refused_with_what_to_do():
    with gc_paused():
        node = Value(0.5, label="x")
        for _ in range(300):
            node = node * 1.01
    with pytest.raises(GraphTooLargeError) as caught:
        stepper(node, max_nodes=100)
    message = str(caught.value)
    assert message.startswith("stepper: the graph has 301 nodes, more than max_nodes=100")
    assert "smaller sub-expression" in message
    assert len(stepper(node, max_nodes=301).steps) == 1 + 300 + 301  # the leaf, 300 products, 301 grads


def test_a_graph_too_tangled_for_dot_gets_advice_the_stepper_can_follow():
    """x·x·…·x: few nodes, but every product uses x, so the edges span many ranks."""
    x = Value(1.1, label="x")
    y = x
    for _ in range(90):
        y = y * x
    with pytest.raises(GraphTooLargeError) as caught:
        stepper(y)
    assert str(caught.value) == (
        "stepper: the graph's 91 boxes have too many edges spanning many ranks for dot to lay them out "
        "in seconds (the 40 nearest the root fit). The page draws the whole graph: step through a "
        "smaller sub-expression (one sample's loss, one neuron)"
    )  # not draw's on_overflow='truncate', which the stepper does not take


def test_a_node_with_many_uses_writes_a_few_and_sums_them_all():
    x = Value(0.5, label="x")
    y = sum_values([x * k for k in range(1, 21)])
    y.label = "y"
    dx = next(s for s in stepper(y, max_terms=3).steps if s.title == "dy/dx")
    assert sum(line.startswith("from ") for line in dx.lines) == 3
    assert "… and 17 more contributions" in dx.lines
    assert dx.lines[-1].endswith(" = 210")  # Σ k for k = 1..20


def test_a_wide_node_writes_each_steps_formula_once(monkeypatch):
    # every input's backward step wrote the formulas of all the node's inputs: n² symbols, 8.4 s
    # for a node of 2,000 inputs (max_nodes raised to draw it)
    n = 99
    xs = [Value(float(i), label=f"x{i}") for i in range(n)]
    z = linear([Value(0.5, label=f"w{i}") for i in range(n)], xs, Value(1.0, label="b"))
    z.label = "z"
    built = count_expressions(monkeypatch)
    page = stepper(z, max_nodes=2 * n + 2)
    assert built[0] <= 3 * (2 * n + 2)
    dw7 = next(step for step in page.steps if step.title == "dz/dw7")
    assert dw7.lines[:3] == ("dz/dw7 = ∂z/∂w7", "       = x7", "       = 7")


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [({"digits": 0}, ValueError, "digits"), ({"max_nodes": 0}, ValueError, "max_nodes"),
     ({"max_terms": 2.5}, TypeError, "max_terms"), ({"title": 3}, TypeError, "title"),
     ({"rankdir": "up"}, ValueError, "rankdir")],
)
def test_bad_options_are_named(kwargs, error, words):
    with pytest.raises(error, match=rf"stepper: {words}"):
        stepper(Value(1.0) * 2, **kwargs)


def test_bad_root_and_path_are_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"stepper: root must be a Value, got 3\.0"):
        stepper(3.0)
    with pytest.raises(TypeError, match=r"save_html: path must be a file name \(str or pathlib\.Path\)"):
        save_html(Value(1.0) * 2, 3)
    with pytest.raises(ValueError, match=r"save_html: path must be a file name, got '\.\.', which names"):
        save_html(Value(1.0) * 2, "..")
    assert list(tmp_path.iterdir()) == []


def test_only_html_suffixes_are_written(tmp_path, neuron):
    # save_html(y, "page.svg") wrote an HTML page named page.svg; the case is free, as for save_svg
    n, page = neuron
    for name in ("page.svg", "page.txt", "page.HTML.bak", "page.xhtml"):
        suffix = name[name.rindex("."):]
        message = (
            f"save_html: cannot write '{suffix}' files ({tmp_path / name}): the page is HTML, so the "
            "suffix must be .html or .htm"
        )
        with pytest.raises(ValueError, match=re.escape(message)):
            save_html(n["L"], tmp_path / name)
        with pytest.raises(ValueError, match=re.escape(message.replace("save_html", "Stepper.save"))):
            page.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    for name in ("a.html", "b.htm", "c.HTM", "d.Html"):
        assert save_html(n["L"], tmp_path / name) == tmp_path / name
        assert page.save(tmp_path / "again" / name).read_text(encoding="utf-8") == page.html


def test_missing_dot_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotFoundError, match=r"stepper: .*apt-get install graphviz"):
        save_html(Value(1.0, label="x") * 2, tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


def test_the_demo_writes_both_pages(tmp_path):
    demo = load_demo("draw_graph")
    neuron_page = demo.write_page(demo.seeds_neuron()["L"], tmp_path / "neuron_backprop.html")
    mlp_page = demo.write_page(demo.small_mlp_loss(sizes=(3, 1)), tmp_path / "mlp_backprop.html")
    assert Path(neuron_page).stat().st_size > 10_000 and Path(mlp_page).stat().st_size > 10_000
    titles = [s["title"] for s in page_data(Path(mlp_page).read_text(encoding="utf-8"))["steps"]]
    assert "dL/dW[1]_0,0" in titles  # a weight used by both samples: two contributions, summed
