"""Your hand-derived backprop formulas, number for number beside autograd and central differences.

Default: the seeds' network (2 inputs, 4 tanh units, 1 sigmoid output, cross-entropy cost)
on 8 generated samples. Try a deeper one, another activation, or a deliberately wrong
formula:

    python demos/compare_gradients.py
    python demos/compare_gradients.py --depth 4 --width 3 --activation relu --m 12
    python demos/compare_gradients.py --sizes 3,3,1 --formulas dW_uses_A_l

Exit status 0 when the formulas equal autograd and autograd equals central differences.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from nn import ACTIVATIONS, MLP
from nn.compare import compare_gradients
from nn.derivations import RULES


def make_batch(n_x: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X of shape (n_x, m) from N(0, 1) (columns are samples) and labels Y of shape (1, m).

    y = 1 where x₀·x₁ > 0 (x₀ > 0 with one feature): a pattern a small network can learn.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_x, m))
    pattern = x[0] * x[1] if n_x > 1 else x[0]
    return x, (pattern > 0.0).astype(float).reshape(1, m)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants numbers like 4,4,1, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes) or sizes[-1] != 1:
        raise argparse.ArgumentTypeError(f"--sizes wants widths ≥ 1 ending in 1 (one output), got {text!r}")
    return sizes


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: network shape, activation, batch, formulas, output size."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))  # 1st paragraph
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--sizes", type=_sizes, help="layer widths n[1],...,n[L], last 1 (default 4,1)")
    shape.add_argument("--depth", type=_positive, help="number of layers L (hidden ones are --width wide)")
    parser.add_argument("--width", type=_positive, default=4, help="hidden width with --depth (default 4)")
    parser.add_argument("--nx", type=_positive, default=2, help="input features n_x (default 2)")
    parser.add_argument("--activation", choices=list(ACTIVATIONS), default="tanh", help="hidden activation")
    parser.add_argument(
        "--output-activation", choices=["sigmoid"], default="sigmoid",
        help="sigmoid, the only choice: the cross-entropy compares probabilities, and a tanh, relu or "
        "linear output leaves [0, 1] on these samples (nn.compare_gradients takes one that stays inside)",
    )
    parser.add_argument("--m", type=_positive, default=8, help="number of samples (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights (default 0)")
    parser.add_argument("--formulas", choices=list(RULES), default="course", help="backprop wiring to check")
    parser.add_argument("--max-rows", type=_positive, default=40, help="rows per table (default 40)")
    parser.add_argument("--intermediates", action="store_true", help="also list every dZ[l], dA[l] entry")
    parser.add_argument("--no-numerical", action="store_true", help="skip central differences")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the network and the batch, print the comparison; 0 on PASS, 1 on FAIL, 2 on bad input."""
    args = parse_args(argv)
    sizes = args.sizes or [4, 1]
    if args.depth is not None:  # L layers: L − 1 hidden ones of --width units, then the output unit
        sizes = [args.width] * (args.depth - 1) + [1]
    try:  # the network's checks name what is wrong with the options
        model = MLP(args.nx, sizes, args.activation, args.output_activation, seed=args.seed)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    x, y = make_batch(args.nx, args.m, args.seed)
    try:
        report = compare_gradients(model, x, y, formulas=args.formulas, numerical=not args.no_numerical)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.table(max_rows=args.max_rows, intermediates=args.intermediates))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
