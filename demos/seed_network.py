"""The source article's single neuron, step by step: each derivative by the chain rule, by direct
computation, and autograd's number beside it.

    z = wᵀx + b,   a = σ(z),   ℒ(a, y) = −[y ln a + (1−y) ln(1−a)] = −[yz − ln(1 + eᶻ)]

Run: python demos/seed_network.py [--x 1.5,-0.5] [--w 0.8,0.3] [--b -0.4] [--y 1]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

import numpy as np

from engine import DomainError, Value, grad, linear
from nn import binary_cross_entropy, softplus
from nn.formulas import (
    db_chain_rule,
    db_direct,
    db_neuron,
    dL_da,
    dw_chain_rule,
    dw_direct,
    dw_neuron,
    dz_direct,
    dz_dw,
    dz_sigmoid_cross_entropy,
    loss,
    loss_direct,
    sigmoid_prime,
)

AGREEMENT = 1e-12
"""Largest |formula − autograd| accepted: every quantity here is of order 1."""


def _numbers(text: str) -> list[float]:
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not all(map(math.isfinite, numbers)):
        raise argparse.ArgumentTypeError(f"expected finite numbers (no nan or inf), got {text!r}")
    return numbers


def _number(text: str) -> float:
    (number,) = _numbers(text)
    return number


def _label(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"the label y must be in [0, 1], got {value}")
    return value


Row = tuple[str, str, float, float | None, float]
"""(quantity, formula, by the chain rule, by direct computation or None, autograd)."""


def neuron_rows(x: Sequence[float], w: Sequence[float], b: float, y: float) -> tuple[list[Row], float, float]:
    """The article's derivatives [1]–[6] for one neuron, with autograd beside each; also z and a.

    Autograd differentiates the course's form of ℒ (``binary_cross_entropy`` with
    m = 1, so J = ℒ); the stored local derivatives of the sigmoid and linear nodes
    are autograd's da/dz and dz/dw.
    """
    xs = np.asarray(x, dtype=float)
    weights = [Value(v, label=f"w_{j}") for j, v in enumerate(w)]
    bias = Value(b, label="b")
    z = linear(weights, list(x), bias)
    a = z.sigmoid()
    cost = binary_cross_entropy([a], [y])
    auto_a, auto_z, *auto_w = grad(cost, [a, z, *weights, bias])
    auto_b = auto_w.pop()
    av, zv = a.data, z.data
    rows: list[Row] = [
        ("ℒ", "−[y ln a + (1−y)ln(1−a)] | −[yz − ln(1+eᶻ)]", float(loss(av, y)), float(loss_direct(zv, y)),
         cost.data),
        ("[1] dℒ/da", "−y/a + (1−y)/(1−a)", float(dL_da(av, y)), None, auto_a),
        ("[2] da/dz", "a(1−a)", float(sigmoid_prime(av)), None, a.local_grads[0]),
        ("[3] dz", "dℒ/da·da/dz | −[y − eᶻ/(1+eᶻ)]", float(dL_da(av, y) * sigmoid_prime(av)),
         float(dz_direct(zv, y)), auto_z),
        ("    dz = a − y", "(simplified)", float(dz_sigmoid_cross_entropy(av, y)), None, auto_z),
    ]
    rows += [(f"[4] dz/dw_{j}", f"x_{j}", float(dz_dw(xs)[j]), None, z.local_grads[j]) for j in range(len(x))]
    for j in range(len(xs)):
        rows.append((f"[5] dw_{j}", "dℒ/da·da/dz·dz/dw | direct", float(dw_chain_rule(xs, av, y)[j]),
                     float(dw_direct(xs, zv, y)[j]), auto_w[j]))
        rows.append((f"    dw_{j} = x_{j}(a − y)", "(simplified)", float(dw_neuron(xs, av, y)[j]), None,
                     auto_w[j]))
    rows.append(("[6] db", "dℒ/da·da/dz·1 | direct", float(db_chain_rule(av, y)), float(db_direct(zv, y)),
                 auto_b))
    rows.append(("    db = a − y", "(simplified)", float(db_neuron(av, y)), None, auto_b))
    return rows, zv, av


def direct_form_difference(x: Sequence[float], w: Sequence[float], b: float, y: float) -> float:
    """Largest |difference| of autograd's dz, dw, db through −[yz − ln(1 + eᶻ)] and through the course's ℒ."""
    weights = [Value(v) for v in w]
    bias = Value(b)
    z = linear(weights, list(x), bias)
    course = grad(binary_cross_entropy([z.sigmoid()], [y]), [z, *weights, bias])
    direct = grad(softplus(z) - y * z, [z, *weights, bias])
    return max(abs(c - d) for c, d in zip(course, direct, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the article's derivatives [1]–[6] three ways; 0 when all agree with autograd, else 1."""
    parser = argparse.ArgumentParser(description="The source article's single neuron, step by step.")
    parser.add_argument("--x", type=_numbers, default=[1.5, -0.5], help="inputs x (default 1.5,-0.5)")
    parser.add_argument("--w", type=_numbers, default=[0.8, 0.3], help="weights w (default 0.8,0.3)")
    parser.add_argument("--b", type=_number, default=-0.4, help="bias b (default -0.4)")
    parser.add_argument("--y", type=_label, default=1.0, help="label y in [0, 1] (default 1)")
    args = parser.parse_args(argv)
    if len(args.x) != len(args.w):
        parser.error(f"--x has {len(args.x)} numbers but --w has {len(args.w)}")
    y = args.y
    try:
        rows, z, a = neuron_rows(args.x, args.w, args.b, y)
        direct_autograd = direct_form_difference(args.x, args.w, args.b, y)
    except (DomainError, OverflowError) as error:  # numbers too large for this neuron's floats
        parser.error(f"these numbers overflow the neuron's floats: {error}")

    print(__doc__.split("\n\n")[1].strip())
    print(f"\nx = {args.x}, w = {args.w}, b = {args.b}, y = {y}:  z = {z:.10g},  a = σ(z) = {a:.10g}\n")
    header = (
        f"{'quantity':<22} {'formula (chain rule | direct)':<46} {'chain rule':>14} {'direct':>14} "
        f"{'autograd':>14}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, formula, chain, direct, auto in rows:
        direct_text = "" if direct is None else f"{direct:.10f}"
        print(f"{name:<22} {formula:<46} {chain:>14.10f} {direct_text:>14} {auto:>14.10f}")
        worst = max(worst, abs(chain - auto), 0.0 if direct is None else abs(direct - auto))
    print(f"\nautograd through the direct form −[yz − ln(1+eᶻ)] gives the same dz, dw, db "
          f"(largest difference {direct_autograd:.1e}).")
    if y != 0.0:
        slip = -y / np.log(a) + (1.0 - y) / (1.0 - a)
        print(f"The article's slip dℒ/da = −y/ln(a) + (1−y)/(1−a) would give {slip:.10f}, "
              f"not {rows[1][4]:.10f}.")
    worst = max(worst, direct_autograd)
    if worst <= AGREEMENT:
        print(f"Verdict: PASS: every hand-derived derivative equals autograd "
              f"(largest difference {worst:.1e}, tolerance {AGREEMENT:g})")
        return 0
    print(f"Verdict: FAIL: a hand-derived derivative differs from autograd by {worst:.1e}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
