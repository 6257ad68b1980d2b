"""demos/backprop_tour.ipynb runs in a fresh kernel without error, and the numbers it shows are the engine's.

Each key number is computed again here, independently of the notebook's code: the neuron's dz, dw and db
by the engine, the compare_gradients verdict, the trained classifier's accuracies; where PyTorch is
installed, its gradients equal chainrule's. The committed notebook carries the same key numbers in its
stored outputs, so what a reader sees on the web is what it computes.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

import nn
from engine import Value

NOTEBOOK = Path(__file__).resolve().parent.parent / "demos" / "backprop_tour.ipynb"
STABLE_TAGS = ("neuron-derivatives", "training")
"""Cells whose output is the same to the bit on any machine (scalar engine arithmetic only)."""

pytestmark = pytest.mark.slow


def outputs_by_tag(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The printed text of each tagged code cell, by tag."""
    found = {}
    for cell in notebook.cells:
        for tag in cell.metadata.get("tags", []):
            streams = [out for out in cell.get("outputs", []) if out.output_type == "stream"]
            found[tag] = "".join(out.text for out in streams)
    return found


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    """The notebook run top to bottom in a new kernel in an empty folder, its stored outputs dropped first."""
    spec = importlib.util.spec_from_file_location("refresh_notebook", NOTEBOOK.parent / "refresh_notebook.py")
    refresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refresh)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    folder = tmp_path_factory.mktemp("tour")
    with pytest.MonkeyPatch.context() as patch:  # the kernel's files (connection, history) stay temporary too
        patch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path_factory.mktemp("jupyter-runtime")))
        patch.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        refresh.execute(notebook, folder)
    return notebook, folder


def test_it_runs_top_to_bottom_and_writes_no_file(executed) -> None:
    notebook, folder = executed
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert not any(out.output_type == "error" for cell in code for out in cell.outputs)
    assert list(folder.iterdir()) == []
    kinds = {key for cell in code for out in cell.outputs for key in out.get("data", {})}
    assert {"image/svg+xml", "image/png"} <= kinds  # the graph and the plots show inline


def test_the_neurons_derivatives_are_the_engines(executed) -> None:
    x, y = [1.5, -0.5], 1.0
    w1, w2, b = Value(0.8), Value(0.3), Value(-0.4)
    z = w1 * x[0] + w2 * x[1] + b
    a = z.sigmoid()
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    loss.backward()
    assert z.grad == pytest.approx(a.data - y, abs=1e-16)  # dz = a − y
    assert w1.grad == pytest.approx(x[0] * (a.data - y), abs=1e-16)  # dw = x(a − y)
    text = outputs_by_tag(executed[0])["neuron-derivatives"]
    printed = [float(number) for number in re.findall(r"= (-?\d\.\d+(?:e-?\d+)?)", text)]
    assert printed == [a.data - y, z.grad, x[0] * (a.data - y), w1.grad, a.data - y, b.grad]


def two_layer_batch() -> tuple[nn.MLP, np.ndarray, np.ndarray]:
    points, labels = nn.make_moons(8, noise=0.1, seed=1)
    model = nn.MLP(2, [4, 1], activation="tanh", output_activation="sigmoid", seed=0)
    return model, points.T, labels.reshape(1, -1)


def test_the_compare_verdict_is_the_engines(executed) -> None:
    model, X, Y = two_layer_batch()
    report = nn.compare_gradients(model, X, Y)
    assert report.passed
    text = outputs_by_tag(executed[0])["compare-verdict"]
    assert f"Verdict: {report.verdict()}" in text
    assert text.strip() == report.table(max_rows=6).strip()


def test_the_trained_accuracies_are_the_engines(executed) -> None:
    points, labels = nn.make_moons(100, noise=0.1, seed=0)
    x_train, x_test, y_train, y_test = nn.train_test_split(points, labels, 0.2, seed=0)
    classifier = nn.MLP(2, [8, 8, 1], activation="tanh", seed=0)
    history = nn.fit(classifier, x_train, y_train, lr=0.3, steps=100, progress=False)
    train, test = nn.accuracy(classifier, x_train, y_train), nn.accuracy(classifier, x_test, y_test)
    assert train >= 0.95 and test >= 0.9
    text = outputs_by_tag(executed[0])["training"]
    assert f"cost after 100 steps: {history.final_loss:.4f}" in text
    assert f"train accuracy {train!r}   test accuracy {test!r}" in text


def test_the_pytorch_step_shows_equal_gradients_or_how_to_install_torch(executed) -> None:
    text = outputs_by_tag(executed[0])["pytorch"]
    if importlib.util.find_spec("torch") is None:
        assert "pip install 'chainrule[torch]'" in text
        return
    differences = [float(d) for d in re.findall(r"largest \|PyTorch − chainrule\| = (\S+)", text)]
    assert len(differences) == 4 and max(differences) <= 1e-12
    costs = re.search(r"J: PyTorch (\S+)\s+chainrule (\S+)", text)
    assert costs is not None and float(costs[1]) == pytest.approx(float(costs[2]), rel=1e-14)


def test_the_committed_outputs_are_what_it_computes(executed) -> None:
    committed = outputs_by_tag(nbformat.read(NOTEBOOK, as_version=4))
    fresh = outputs_by_tag(executed[0])
    for tag in STABLE_TAGS:
        assert committed[tag] == fresh[tag], f"the stored outputs of cell {tag!r} are stale: make notebook"
    assert committed["compare-verdict"].strip().splitlines()[-1].startswith("Verdict: PASS")
    assert "largest |PyTorch − chainrule|" in committed["pytorch"]  # the web copy shows the PyTorch step
