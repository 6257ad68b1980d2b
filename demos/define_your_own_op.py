"""Define your own op: sin and cos, written once, then differentiated, explained, drawn and checked.

The classic exercise of an autograd engine. Each op is one ``define_op`` call: its
forward (math.sin), its local derivative written with ops (cos(a), so it also runs
on Values and on symbols), and the derivative's formula for people. The engine
then takes derivatives of any order, explains the chain rule with the rule's own
formula, draws the graph, and gradcheck compares it with central differences.

Run: python demos/define_your_own_op.py [--out out/]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from engine import GraphvizNotFoundError, Value, define_op, derivative, explain, gradcheck, save_svg

sin = define_op("sin", forward=math.sin, local_grads=lambda out, a: (cos(a),),
                formula="∂(sin a)/∂a = cos a")
cos = define_op("cos", forward=math.cos, local_grads=lambda out, a: (-sin(a),),
                formula="∂(cos a)/∂a = −sin a")

X0 = 0.5


def definition_source() -> str:
    """The two ``define_op`` calls above, as this file writes them."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("sin = define_op("))
    return "\n".join(lines[start : start + 4])


def derivative_rows(x0: float = X0) -> list[tuple[str, float, float]]:
    """(name, autograd, closed form) for sin′, sin″, sin‴ and cos′, cos″ at ``x0``."""
    return [
        ("sin'(x)   = cos x", derivative(sin)(x0), math.cos(x0)),
        ("sin''(x)  = −sin x", derivative(derivative(sin))(x0), -math.sin(x0)),
        ("sin'''(x) = −cos x", derivative(derivative(derivative(sin)))(x0), -math.cos(x0)),
        ("cos'(x)   = −sin x", derivative(cos)(x0), -math.sin(x0)),
        ("cos''(x)  = −cos x", derivative(derivative(cos))(x0), -math.cos(x0)),
    ]


def product_graph(x0: float = X0) -> tuple[Value, Value]:
    """y = sin(x)·cos(x) at ``x0``, labelled, after backward: (x, y). By hand, dy/dx = cos 2x."""
    x = Value(x0, label="x")
    y = sin(x) * cos(x)
    y.label = "y"
    y.backward()
    return x, y


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
    """Define sin and cos, print their derivatives, explain and draw y = sin(x)·cos(x), gradcheck."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))  # 1st paragraph
    parser.add_argument(
        "--out", type=out_folder, default=Path("out"), help="folder for the drawing (default: out/)"
    )
    args = parser.parse_args(argv)

    print("1. Two definitions: each op's forward, its local derivative (written with ops) and its formula.\n")
    print(definition_source())
    print(f"\nOn numbers an op gives a number: sin({X0}) = {sin(X0)!r}")
    print(f"On a Value it makes a node:     sin(Value({X0})) = {sin(Value(X0))!r}")

    print(f"\n2. Derivatives of any order, each one the rules applied again (at x = {X0}):\n")
    for name, autograd, closed in derivative_rows():
        print(f"   {name:<20} autograd {autograd:+.15f}   closed form {closed:+.15f}")

    x, y = product_graph()
    print(f"\n3. backward on y = sin(x)·cos(x): dy/dx = {x.grad!r}; by hand cos 2x = {math.cos(2 * X0)!r}")
    print("   explain writes the chain rule with the rules you gave (cos(x), −sin(x)):\n")
    print(explain(y, wrt=x))

    drawing = args.out / "sin_cos.svg"
    try:
        drawing = save_svg(y, drawing, show_local_grads=True, title=f"y = sin(x)·cos(x) at x = {X0}")
    except GraphvizNotFoundError as error:
        print(f"\nnote: {error}")
        drawing = error.source_path
    print(f"\n4. The graph, with sin and cos as op nodes and ∂c/∂v on each edge: {drawing}")

    report = gradcheck(lambda a, b: sin(a * b) + cos(a) / (2.0 + sin(b)), [0.3, -1.1])
    print("\n5. gradcheck: autograd against central differences on sin(a·b) + cos(a)/(2 + sin b)\n")
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
