"""Derivatives of derivatives: σ'', a third derivative, and the Hessian of one neuron's loss.

Run: python demos/second_derivatives.py
"""

from __future__ import annotations

import argparse

import engine
from engine import Value, derivative, grad


def main(argv: list[str] | None = None) -> None:
    """Print each higher-order derivative beside its closed form."""
    argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split())).parse_args(argv)
    z0 = 0.7
    sigmoid = lambda z: z.sigmoid()
    a = sigmoid(Value(z0)).data
    rows = [
        ("σ'(z)   = a(1−a)", derivative(sigmoid)(z0), a * (1 - a)),
        ("σ''(z)  = a(1−a)(1−2a)", derivative(derivative(sigmoid))(z0), a * (1 - a) * (1 - 2 * a)),
        (
            "σ'''(z) = a(1−a)(1−6a+6a²)",
            derivative(derivative(derivative(sigmoid)))(z0),
            a * (1 - a) * (1 - 6 * a + 6 * a * a),
        ),
    ]
    print(f"At z = {z0}, a = σ(z) = {a:.10f}\n")
    for name, auto, closed in rows:
        print(f"{name:<28} autograd {auto:+.12f}   closed form {closed:+.12f}")

    x, y = [0.5, -1.2], 1.0
    w = [Value(0.3, label="w0"), Value(-0.1, label="w1")]
    out = engine.linear(w, x, Value(0.05, label="b")).sigmoid()
    loss = -(y * out.log() + (1 - y) * (1 - out).log())
    first = grad(loss, w, create_graph=True)  # dw = x(a − y), as Values with their own graph
    hessian = [grad(g, w) for g in first]
    s = out.data * (1 - out.data)
    print("\nHessian of the cross-entropy of a = σ(w·x + b) in w, against a(1−a) x xᵀ:")
    for i in range(2):
        autograd_row = "  ".join(f"{h:+.10f}" for h in hessian[i])
        closed_row = "  ".join(f"{s * x[i] * x[j]:+.10f}" for j in range(2))
        print(f"  [{autograd_row}]    [{closed_row}]")


if __name__ == "__main__":
    main()
