"""Train a small MLP to separate two classes of 2-D points, and draw what it learned.

Run from the repository root:  python demos/train_classifier.py
    (options: python demos/train_classifier.py --help)

By default it trains MLP(2, [16, 16, 1]) (tanh hidden layers, a sigmoid output,
binary cross-entropy) on 100 "moons" points, 80 for training and 20 held out,
with SGD and momentum. It writes into out/:
    moons_boundary.svg/.png   the decision boundary a[L] = ½ over the data
    moons_loss.svg/.png       the cost and the accuracy at every step
    moons_model.json          the trained model (load it with nn.load_model)
The same arguments give the same files, byte for byte.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

import nn
from engine import atomic_write
from nn.train import decision_threshold, format_loss

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MATPLOTLIB_MISSING = (
    "train_classifier.py draws its plots with matplotlib, which is not installed here.\n"
    "Install chainrule with its demo extra:  pip install 'chainrule[demo]'\n"
    "  (in a clone of the repository: pip install -e '.[demo]', or make demo, which does it for you)"
)

DEFAULT_NOISE = {"moons": 0.1, "circles": 0.08, "blobs": 0.5, "xor": 0.2}
"""Noise (standard deviation) per dataset when --noise is not given."""

GRID_POINTS = 100
"""Grid points per axis where the boundary plot evaluates the model (under no_grad)."""

DPI = 150
"""Pixels per inch of the PNGs: the boundary plot is 1200×960 pixels, the loss curve 1200×720."""

CLASS_COLORS = ("#2166ac", "#b2182b")
"""Class 0 blue, class 1 red: the two ends of the background's colour map, at full strength."""

MARKERS = {"train": "o", "test": "^"}
"""Train points are circles, test points triangles; each has a black edge, so it reads on any background."""

# Fixed ids and no dates or version strings in the files: the same run gives the same bytes.
SVG_SALT = "chainrule"
SVG_METADATA = {"Date": None, "Creator": None}
PNG_METADATA = {"Software": None}


def parse_sizes(text: str) -> list[int]:
    """'16,16,1' -> [16, 16, 1] (layer widths n[1], ..., n[L]; n[L] must be 1)."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 16,16,1, got {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be ≥ 1, got {text!r}")
    if sizes[-1] != 1:
        raise argparse.ArgumentTypeError(f"the last layer must have 1 unit (two classes), got {text!r}")
    return sizes


def out_folder(text: str) -> Path:
    """An argparse type for --out: a folder, or a path where one can be made (no file in the way)."""
    path = Path(text)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                what = "is a file" if part == path else f"is under {part}, a file"
                raise argparse.ArgumentTypeError(f"{text!r} {what}: --out is the folder to write into")
            break
    return path


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: ``kind(text)``, which must be > 0."""
    def convert(text: str) -> int | float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its error messages
    return convert


def build_parser() -> argparse.ArgumentParser:
    """The command-line options, each with its help and its default."""
    parser = argparse.ArgumentParser(
        description="Train an MLP (tanh or relu hidden layers, a sigmoid output, the course's cross-entropy "
        "cost) on a 2-D dataset with gradient descent and momentum; plot its decision boundary and its "
        "cost per step, and save the trained model, into --out.",
    )
    noise = ", ".join(f"{name} {value:g}" for name, value in DEFAULT_NOISE.items())
    activations = [a for a in nn.ACTIVATIONS if a != "linear"]
    parser.add_argument("--dataset", choices=sorted(nn.DATASETS), default="moons",
                        help="which 2-D points to separate (default: %(default)s)")
    parser.add_argument("--samples", type=_positive(int), default=100,
                        help="points in all, train and test together (default: %(default)s)")
    parser.add_argument("--noise", type=float, default=None,
                        help=f"standard deviation of the noise (default per dataset: {noise})")
    parser.add_argument("--test-fraction", type=float, default=0.2,
                        help="share of the points held out to test; 0 for none (default: %(default)s)")
    parser.add_argument("--sizes", type=parse_sizes, default=[16, 16, 1],
                        help="layer widths n[1],...,n[L], the last 1 (default: 16,16,1)")
    parser.add_argument("--activation", choices=activations, default="tanh",
                        help="g of the hidden layers; the output is always sigmoid (default: %(default)s)")
    parser.add_argument("--steps", type=_positive(int), default=150,
                        help="gradient-descent steps (default: %(default)s)")
    parser.add_argument("--lr", type=_positive(float), default=0.3,
                        help="learning rate α (default: %(default)s)")
    parser.add_argument("--momentum", type=float, default=0.9,
                        help="μ in v ← μv + dW, W ← W − αv; 0: plain gradient descent (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive(int), default=None,
                        help="samples per step (default: all training points, full-batch gradient descent)")
    parser.add_argument("--seed", type=int, default=0,
                        help="fixes the data, the split and the initial weights (default: %(default)s)")
    parser.add_argument("--out", type=out_folder, default=Path("out"),
                        help="folder for the plots and the model (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress line while training")
    return parser


def _save_figure(figure: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.svg and ``stem``.png, each atomically and with reproducible bytes."""
    import matplotlib

    written = []
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        for suffix, metadata in ((".svg", SVG_METADATA), (".png", PNG_METADATA)):
            path = stem.with_suffix(suffix)

            def write(file: IO[bytes], fmt: str = suffix[1:], meta: dict = metadata) -> None:
                with np.errstate(over="ignore"):  # see plot_history
                    figure.savefig(file, format=fmt, metadata=meta, dpi=DPI)

            written.append(atomic_write(path, write, binary=True))
    return written


def plot_boundary(
    model: nn.MLP,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    title: str,
) -> Figure:
    """The model's output a[L] over a grid around the data, its boundary a[L] = threshold, and the points.

    Colour says the class (blue 0, red 1), shape says the split (circle train,
    triangle test); the key below the plot says both.
    """
    from matplotlib.figure import Figure

    points = train[0] if test is None else np.concatenate([train[0], test[0]])
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    xs = np.linspace(low[0], high[0], GRID_POINTS)
    ys = np.linspace(low[1], high[1], GRID_POINTS)
    grid_x, grid_y = np.meshgrid(xs, ys)
    scores = nn.predict_scores(model, np.column_stack([grid_x.ravel(), grid_y.ravel()])).reshape(grid_x.shape)

    figure = Figure(figsize=(8.0, 6.4), layout="constrained")
    axes = figure.add_subplot()
    levels = np.linspace(0.0, 1.0, 21) if model.output_activation == "sigmoid" else 20
    # A pale background, so the full-strength class colours of the points stand out on it.
    filled = axes.contourf(grid_x, grid_y, scores, levels=levels, cmap="RdBu_r", alpha=0.35)
    figure.colorbar(filled, ax=axes, label="a[L], the model's probability of class 1")
    threshold = decision_threshold(model)
    axes.contour(grid_x, grid_y, scores, levels=[threshold], colors="black", linewidths=2.0)
    splits = [("train", train)] + ([] if test is None else [("test", test)])
    for split, (x, y) in splits:
        axes.scatter(
            x[:, 0], x[:, 1], c=np.array(CLASS_COLORS)[y], marker=MARKERS[split],
            s=70 if split == "test" else 45, edgecolors="black", linewidths=1.0, zorder=3,
        )
    axes.set(title=title, xlabel="x₁", ylabel="x₂", xlim=(low[0], high[0]), ylim=(low[1], high[1]))
    figure.legend(
        handles=_legend_handles(splits, threshold), loc="outside lower center", ncols=3, frameon=False,
    )
    return figure


def _legend_handles(splits: list[tuple[str, tuple[np.ndarray, np.ndarray]]], threshold: float) -> list:
    """The key: a colour swatch per class, a white marker per split (train, test), the boundary line."""
    from matplotlib.lines import Line2D

    def marker(shape: str, face: str, label: str) -> Line2D:
        return Line2D([], [], linestyle="", marker=shape, markersize=9, markerfacecolor=face,
                      markeredgecolor="black", label=label)

    handles = [marker("s", color, f"class {label} (y = {label})") for label, color in enumerate(CLASS_COLORS)]
    handles += [marker(MARKERS[split], "white", f"{split} ({len(y)} points)") for split, (_, y) in splits]
    handles.append(Line2D([], [], color="black", linewidth=2.0, label=f"boundary a[L] = {threshold:g}"))
    return handles


def plot_history(history: nn.History, title: str) -> Figure:
    """The cost (log scale) and the training accuracy at each step."""
    # A log axis up to a huge cost (a run that diverged, 1e+300) overflows numpy's exp in matplotlib's
    # tick code (here and when saving): the plot is right, the RuntimeWarning would only be noise.
    with np.errstate(over="ignore"):
        return _history_figure(history, title)


def _history_figure(history: nn.History, title: str) -> Figure:
    from matplotlib.figure import Figure

    steps = np.arange(1, len(history) + 1)
    figure = Figure(figsize=(8.0, 4.8))
    axes = figure.add_subplot()
    axes.plot(steps, history.loss, color="#b2182b", label="cost L")
    axes.set(title=title, xlabel="step", ylabel="cost L (log scale)", yscale="log")
    accuracy_axes = axes.twinx()
    accuracy_axes.plot(steps, np.array(history.accuracy) * 100, color="#1f4e9c", label="accuracy")
    accuracy_axes.set(ylabel="training accuracy (%)", ylim=(0, 101))
    lines = axes.get_lines() + accuracy_axes.get_lines()
    axes.legend(lines, [line.get_label() for line in lines], loc="center right")
    figure.tight_layout()
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    """Train, report, and write the plots and the model; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401 (checked now, before training, rather than at the first plot)
    except ModuleNotFoundError as error:
        if error.name != "matplotlib":
            raise
        print(MATPLOTLIB_MISSING, file=sys.stderr)
        return 1
    noise = DEFAULT_NOISE[args.dataset] if args.noise is None else args.noise
    if not noise >= 0:
        parser.error(f"--noise must be ≥ 0, got {noise}")
    if not 0 <= args.test_fraction < 1:
        parser.error(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if not 0 <= args.momentum < 1:
        parser.error(f"--momentum must be in [0, 1), got {args.momentum}")
    if args.samples < 4 or args.test_fraction * args.samples > args.samples - 2:
        parser.error(f"--samples {args.samples} is too few to train on (and test with {args.test_fraction})")
    try:  # the library's checks name what is wrong with the options, before anything is written
        x, y = nn.DATASETS[args.dataset](args.samples, noise, args.seed)
        model = nn.MLP(2, args.sizes, activation=args.activation, output_activation="sigmoid", seed=args.seed)
        nn.SGD.check_settings("", args.lr, args.momentum, 0.0)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    args.out.mkdir(parents=True, exist_ok=True)

    if args.test_fraction > 0:
        x_train, x_test, y_train, y_test = nn.train_test_split(x, y, args.test_fraction, seed=args.seed)
        test = (x_test, y_test)
    else:
        x_train, y_train, test = x, y, None
    shape = "-".join(str(width) for width in [2, *args.sizes])
    print(
        f"{args.dataset}: {len(y_train)} training and {0 if test is None else len(test[1])} test points "
        f"(noise {noise:g}); MLP {shape}, {args.activation} hidden, sigmoid output, "
        f"{model.num_parameters()} parameters"
    )

    history = nn.fit(
        model, x_train, y_train, loss="bce", lr=args.lr, momentum=args.momentum, steps=args.steps,
        batch_size=args.batch_size, seed=args.seed, progress=not args.quiet,
    )
    train_accuracy = nn.accuracy(model, x_train, y_train)
    test_accuracy = None if test is None else nn.accuracy(model, *test)

    started = time.perf_counter()
    results = f"train {train_accuracy:.0%}" + ("" if test is None else f", test {test_accuracy:.0%}")
    boundary = plot_boundary(model, (x_train, y_train), test, f"{args.dataset}, MLP {shape}: {results}")
    curve = plot_history(history, f"{args.dataset}, MLP {shape}: cost and accuracy per step")
    stem = args.out / args.dataset
    written = _save_figure(boundary, stem.with_name(stem.name + "_boundary"))
    written += _save_figure(curve, stem.with_name(stem.name + "_loss"))
    metadata = {
        "dataset": args.dataset, "samples": args.samples, "noise": noise, "test_fraction": args.test_fraction,
        "seed": args.seed, "steps": args.steps, "lr": args.lr, "momentum": args.momentum,
        "batch_size": args.batch_size, "final_loss": history.final_loss,
        "train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
    }
    written.append(nn.save_model(model, stem.with_name(stem.name + "_model.json"), metadata=metadata))
    plotting = time.perf_counter() - started

    settings = f"lr {args.lr:g}, momentum {args.momentum:g}"
    print(f"trained {args.steps} steps in {history.seconds:.1f} s ({settings})")
    test_text = "" if test_accuracy is None else f"   test accuracy {test_accuracy:.1%}"
    print(f"cost at the last step {format_loss(history.final_loss)}   train accuracy {train_accuracy:.1%}"
          f"{test_text}")
    print(f"wrote in {plotting:.1f} s:")
    for path in written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
