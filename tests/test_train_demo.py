"""demos/train_classifier.py end to end: its files exist, parse, are byte-identical across runs; it learns."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.colors
import numpy as np
import pytest

import nn

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demos" / "train_classifier.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("train_classifier_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small_grid(demo, monkeypatch):
    monkeypatch.setattr(demo, "GRID_POINTS", 25)  # the boundary grid is the slow part; 25² is plenty here


def expected_files(folder: Path, dataset: str) -> list[Path]:
    names = ["boundary.svg", "boundary.png", "loss.svg", "loss.png", "model.json"]
    return [folder / f"{dataset}_{name}" for name in names]


QUICK = ["--steps", "4", "--samples", "30", "--quiet"]


@pytest.mark.usefixtures("small_grid")
def test_a_short_run_writes_files_that_parse_and_repeat_byte_for_byte(demo, tmp_path, capsys):
    assert demo.main([*QUICK, "--out", str(tmp_path / "a")]) == 0
    summary = capsys.readouterr().out
    assert demo.main([*QUICK, "--out", str(tmp_path / "b")]) == 0
    first, second = expected_files(tmp_path / "a", "moons"), expected_files(tmp_path / "b", "moons")
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes(), f"{one.name} differs between two identical runs"
    svg_boundary, png_boundary, svg_loss, png_loss, model_file = first
    for svg in (svg_boundary, svg_loss):
        assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
        assert b"<dc:date>" not in svg.read_bytes()  # no timestamp
    for png in (png_boundary, png_loss):
        assert png.read_bytes()[:8] == PNG_SIGNATURE and len(png.read_bytes()) > 1000
    model = nn.load_model(model_file)
    metadata = json.loads(model_file.read_text(encoding="utf-8"))["metadata"]
    assert metadata["dataset"] == "moons" and metadata["steps"] == 4 and metadata["samples"] == 30
    x, y = nn.make_moons(30, 0.1, 0)
    x_train, _, y_train, _ = nn.train_test_split(x, y, 0.2, seed=0)
    assert nn.accuracy(model, x_train, y_train) == metadata["train_accuracy"]
    assert f"train accuracy {metadata['train_accuracy']:.1%}" in summary
    for path in first:
        assert str(path) in summary


@pytest.mark.usefixtures("small_grid")
@pytest.mark.parametrize("dataset", ["circles", "blobs", "xor"])
def test_other_datasets_options_and_progress(demo, tmp_path, capsys, dataset):
    argv = ["--dataset", dataset, "--sizes", "6,1", "--activation", "relu", "--steps", "3", "--samples", "24",
            "--batch-size", "8", "--test-fraction", "0", "--lr", "0.2", "--seed", "5", "--out", str(tmp_path)]
    assert demo.main(argv) == 0
    captured = capsys.readouterr()
    assert "step 3/3" in captured.err  # the progress line
    assert f"{dataset}: 24 training and 0 test points" in captured.out
    assert all(path.exists() for path in expected_files(tmp_path, dataset))
    assert repr(nn.load_model(tmp_path / f"{dataset}_model.json")).startswith("MLP(2-6-1, activation='relu'")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.mark.usefixtures("small_grid")
def test_the_boundary_plot_keys_classes_by_colour_and_splits_by_shape(demo, tmp_path):
    assert demo.main([*QUICK, "--out", str(tmp_path)]) == 0
    assert png_size(tmp_path / "moons_boundary.png") == (1200, 960)  # reads on a laptop screen
    assert png_size(tmp_path / "moons_loss.png") == (1200, 720)
    x, y = nn.make_moons(30, 0.1, 0)
    x_train, x_test, y_train, y_test = nn.train_test_split(x, y, 0.2, seed=0)
    figure = demo.plot_boundary(nn.MLP(2, [3, 1]), (x_train, y_train), (x_test, y_test), "title")
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == [
        "class 0 (y = 0)", "class 1 (y = 1)",
        f"train ({len(y_train)} points)", f"test ({len(y_test)} points)", "boundary a[L] = 0.5",
    ]
    handles = legend.legend_handles
    # the class swatches carry the two colours; the split markers are white, so they say only the shape
    assert [h.get_markerfacecolor() for h in handles[:2]] == list(demo.CLASS_COLORS)
    assert [h.get_marker() for h in handles[2:4]] == [demo.MARKERS["train"], demo.MARKERS["test"]]
    assert demo.MARKERS["train"] != demo.MARKERS["test"]
    assert all(h.get_markerfacecolor() == "white" for h in handles[2:4])
    train_points, test_points = figure.axes[0].collections[-2:]
    for points, labels in ((train_points, y_train), (test_points, y_test)):
        faces = [matplotlib.colors.to_hex(color) for color in points.get_facecolors()]
        assert faces == [demo.CLASS_COLORS[label] for label in labels]  # colour = class, in both splits
        assert all(matplotlib.colors.to_hex(edge) == "#000000" for edge in points.get_edgecolors())


def test_every_option_has_help_and_says_its_default(demo):
    parser = demo.build_parser()
    text = parser.format_help()
    assert "(default: None)" not in text
    for action in parser._actions:
        if action.dest in ("help", "quiet"):
            continue
        assert action.help, action.dest
        assert "default" in action.help, action.dest


def test_without_matplotlib_it_says_to_install_the_demo_extra(tmp_path):
    code = (
        # `import matplotlib` fails as if it were not installed
        "import runpy, sys; sys.modules['matplotlib'] = None; "
        f"sys.argv = ['train_classifier.py', '--out', {str(tmp_path / 'out')!r}]; "
        "runpy.run_path('demos/train_classifier.py', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "pip install 'chainrule[demo]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # it stopped before training or writing anything


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "16,2"], "the last layer must have 1 unit"),
        (["--sizes", "16,x,1"], "expected integers like 16,16,1"),
        (["--lr", "0"], "must be > 0"),
        (["--steps", "-3"], "must be > 0"),
        (["--dataset", "spirals"], "invalid choice: 'spirals'"),
        (["--momentum", "1"], r"--momentum must be in \[0, 1\)"),
        (["--test-fraction", "1.5"], r"--test-fraction must be in \[0, 1\)"),
        (["--noise", "-1"], "--noise must be ≥ 0"),
        (["--samples", "3"], "too few to train on"),
    ],
)
def test_bad_options_exit_with_a_usage_message(demo, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        demo.main([*argv, "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.slow
def test_the_default_run_reaches_97_percent_training_accuracy_into_out(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert demo.main(["--quiet"]) == 0
    model_file = tmp_path / "out" / "moons_model.json"
    assert all(path.exists() for path in expected_files(tmp_path / "out", "moons"))
    metadata = json.loads(model_file.read_text(encoding="utf-8"))["metadata"]
    assert metadata["train_accuracy"] >= 0.97 and metadata["test_accuracy"] >= 0.9
    assert metadata["final_loss"] < 0.05
    x, y = nn.make_moons(100, 0.1, 0)
    assert nn.accuracy(nn.load_model(model_file), x, y) >= 0.97


@pytest.mark.slow
def test_it_runs_as_a_script_from_the_repository_root(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "demos/train_classifier.py", *QUICK, "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote in" in result.stdout
    assert np.isfinite(nn.load_model(tmp_path / "moons_model.json").layers[0].neurons[0].w[0].data)


def test_the_wengert_list_demo_prints_the_lists_and_times_the_three_ways() -> None:
    """demos/wengert_list.py: the seed neuron's list and a 2-2-1 network's, per sample and batched."""
    result = subprocess.run(
        [sys.executable, str(REPO / "demos" / "wengert_list.py"), "--time", "--steps", "3"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    out = result.stdout
    assert "def seed_neuron_cost(w_0, w_1, b, x_0, x_1, dL=1.0):" in out
    assert "z = b + w_0 * x_0 + w_1 * x_1" in out and "dz = da * (a * (1.0 - a))" in out
    assert "dW1 = 1 / m * dZ1 @ A0.T" in out and "Z2 = W2 @ A1 + b2" in out
    assert out.count(" ms a step") == 3
    for line in out.splitlines():
        if "losses within" in line:  # e.g. "losses within 1.4e-16, parameters within 1.3e-15"
            gaps = [float(word.rstrip(",")) for word in line.split() if word[0].isdigit() and "e" in word]
            assert len(gaps) == 2 and max(gaps) < 1e-12, line


@pytest.mark.parametrize("name", ["train_classifier", "draw_graph", "define_your_own_op"])
@pytest.mark.parametrize(("under", "said"), [("", "is a file"), ("sub", "is under {file}, a file")])
def test_an_out_that_is_a_file_is_a_usage_error_naming_out(tmp_path, capsys, name, under, said):
    spec = importlib.util.spec_from_file_location(f"{name}_demo", REPO / "demos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    file = tmp_path / "taken"
    file.write_text("mine", encoding="utf-8")
    out = file / under if under else file
    with pytest.raises(SystemExit) as exited:
        module.main(["--out", str(out)])
    assert exited.value.code == 2
    expected = f"argument --out: {str(out)!r} {said.format(file=file)}: --out is the folder to write into"
    assert expected in capsys.readouterr().err
    assert file.read_text(encoding="utf-8") == "mine"


def test_a_diverging_run_prints_short_losses_and_no_warning(demo, small_grid, tmp_path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's overflow in its log-axis ticks does not leak
        assert demo.main(["--lr", "1e300", "--steps", "20", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "cost at the last step 6.732e+300   train accuracy" in captured.out
    assert "step 20/20  loss 6.732e+300  accuracy" in captured.err
    assert max(len(line) for line in (captured.out + captured.err).splitlines()) < 120


def _wengert():
    spec = importlib.util.spec_from_file_location("wengert_list_demo", REPO / "demos" / "wengert_list.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("steps", "message"), [
    ("10000000000000", "must be from 1 to 1,000,000,000,000 (nn.train.MAX_STEPS), got 10000000000000"),
    ("0", "must be from 1 to 1,000,000,000,000 (nn.train.MAX_STEPS), got 0"),
    ("x", "must be an integer, got 'x'"),
])
def test_the_wengert_list_demo_checks_steps_before_printing(capsys, steps, message):
    with pytest.raises(SystemExit) as exited:
        _wengert().main(["--time", "--steps", steps])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert f"error: argument --steps: {message}" in captured.err and captured.out == ""


def test_steps_implies_time_in_the_wengert_list_demo(capsys):
    _wengert().main(["--steps", "2"])
    out = capsys.readouterr().out
    assert "2 steps (lr 0.3, momentum 0.9), three ways:" in out and out.count(" ms a step") == 3


@pytest.mark.parametrize("name", ["draw_graph", "second_derivatives", "define_your_own_op",
                                  "compare_gradients"])
def test_each_demos_help_says_its_first_paragraph_whole(name, capsys):
    spec = importlib.util.spec_from_file_location(f"{name}_demo", REPO / "demos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exited:
        module.main(["--help"])
    assert exited.value.code == 0
    first_paragraph = " ".join(module.__doc__.split("\n\n")[0].split())
    assert first_paragraph in " ".join(capsys.readouterr().out.split())
