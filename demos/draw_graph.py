"""See the graph: the seeds' sigmoid neuron and a small MLP drawn as SVG, backprop step by step in
the browser, and the chain rule in words.

    z = wx + b,  a = σ(z),  L = −[y ln a + (1−y) ln(1−a)]

The neuron is drawn after ``backward`` with each edge carrying ∂child/∂parent and
upstream × local, and the path from L to w highlighted; the MLP 2-4-4-1 is drawn
one box per neuron. ``neuron_backprop.html`` and ``mlp_backprop.html`` step
through the forward and backward passes of the neuron and of a 2-3-1 MLP's cost
on two samples (open them in a browser: ← and → step). Then ``explain`` writes
dL/da, dL/dz = a − y and dL/dw = x(a − y) step by step, next to the hand formulas.

Run: python demos/draw_graph.py [--out out/]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine import GraphvizNotFoundError, Value, explain, save_html, save_svg
from nn import MLP, binary_cross_entropy

X, Y = 1.5, 1.0  # one sample: the input and its label


def neuron_loss(w: Value, b: Value, x: float, y: float) -> tuple[Value, Value, Value]:
    """z = wx + b, a = σ(z), L = −[y ln a + (1−y) ln(1−a)], labelled; returns (z, a, L)."""
    z = w * x + b
    z.label = "z"
    a = z.sigmoid()
    a.label = "a"
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    loss.label = "L"
    return z, a, loss


def seeds_neuron(x: float = X, y: float = Y, w: float = 0.8, b: float = -0.4) -> dict[str, Value]:
    """The course's single neuron with its cross-entropy loss, after backward: w, b, z, a, L by name.

    The loss keeps both terms of the formula, so dL/da is drawn as the sum
    of the two branches −y/a (through ln a) and (1−y)/(1−a) (through ln(1−a)).
    """
    w_node, b_node = Value(w, label="w"), Value(b, label="b")
    z, a, loss = neuron_loss(w_node, b_node, x, y)
    loss.backward()
    return {"w": w_node, "b": b_node, "z": z, "a": a, "L": loss}


def small_mlp_loss(seed: int = 0, sizes: tuple[int, ...] = (4, 4, 1)) -> Value:
    """A 2-``sizes`` tanh/sigmoid MLP (2-4-4-1) on two samples with its cross-entropy cost, after backward."""
    model = MLP(2, list(sizes), seed=seed)
    samples, targets = [[0.5, -1.0], [-1.5, 2.0]], [1.0, 0.0]
    cost = binary_cross_entropy([model(x) for x in samples], targets)
    cost.label = "L"
    cost.backward()
    return cost


def write_svg(root: Value, path: Path, **options: object) -> Path:
    """save_svg, or without Graphviz the .gv source beside it (the error says how to install dot)."""
    try:
        return save_svg(root, path, **options)
    except GraphvizNotFoundError as error:
        print(f"note: {error}\n")
        return error.source_path


def write_page(root: Value, path: Path) -> Path | None:
    """save_html, or without Graphviz a note saying how to install it (the page needs its layout)."""
    try:
        return save_html(root, path)
    except GraphvizNotFoundError as error:
        print(f"note: {error}\n")
        return None


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


def main(argv: list[str] | None = None) -> int:
    """Write neuron.svg, mlp.svg and the two step-through pages into --out; print the neuron's chain rule."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))  # 1st paragraph
    parser.add_argument(
        "--out", type=out_folder, default=Path("out"),
        help="folder for the SVG and HTML files (default: out/)",
    )
    args = parser.parse_args(argv)

    neuron = seeds_neuron()
    neuron_file = write_svg(
        neuron["L"], args.out / "neuron.svg", show_local_grads=True, highlight=neuron["w"],
        title=f"z = wx + b, a = σ(z), L = −[y ln a + (1−y) ln(1−a)]  (x = {X}, y = {Y}); path to w in red",
    )
    mlp_file = write_svg(
        small_mlp_loss(), args.out / "mlp.svg", collapse_neurons=True,
        title="MLP 2-4-4-1 on 2 samples, one box per neuron",
    )
    neuron_page = write_page(neuron["L"], args.out / "neuron_backprop.html")
    mlp_page = write_page(small_mlp_loss(sizes=(3, 1)), args.out / "mlp_backprop.html")
    print(f"neuron graph: {neuron_file}")
    print(f"MLP graph:    {mlp_file}")
    if neuron_page and mlp_page:
        print(f"step through backprop in a browser: {neuron_page} and {mlp_page} (keys ← →)")
    print()
    print(explain(neuron["L"]))
    x, y, a = X, Y, neuron["a"].data
    print(
        f"\nby hand: dL/da = −y/a + (1−y)/(1−a) = {-y / a + (1 - y) / (1 - a):.4g}, "
        f"dz = a − y = {a - y:.4g}, dw = x(a − y) = {x * (a - y):.4g}, db = a − y = {a - y:.4g}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
