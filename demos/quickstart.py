"""The seeds' single neuron, by autograd and by hand: a = σ(wx + b), L = −[y ln a + (1−y) ln(1−a)].

Run: python demos/quickstart.py
"""

from __future__ import annotations

from engine import Value, gradcheck


def neuron_loss(w: Value, b: Value, x: float, y: float) -> tuple[Value, Value, Value]:
    """z = wx + b, a = σ(z), L = −[y ln a + (1−y) ln(1−a)]; returns (z, a, L)."""
    z = w * x + b
    z.label = "z"
    a = z.sigmoid()
    a.label = "a"
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    loss.label = "L"
    return z, a, loss


def main() -> None:
    """Backpropagate through one neuron and print every value beside the hand-derived formula."""
    x, y = 1.5, 1.0
    w, b = Value(0.8, label="w"), Value(-0.4, label="b")
    z, a, loss = neuron_loss(w, b, x, y)
    loss.backward()

    av = a.data
    rows = [
        ("z = wx + b", z.data, None),
        ("a = σ(z)", av, None),
        ("L", loss.data, None),
        ("dL/da = −y/a + (1−y)/(1−a)", a.grad, -y / av + (1 - y) / (1 - av)),
        ("dz = a − y", z.grad, av - y),
        ("dw = x(a − y)", w.grad, x * (av - y)),
        ("db = a − y", b.grad, av - y),
    ]
    print(f"One sigmoid neuron, x = {x}, y = {y}, w = {w.data}, b = {b.data}\n")
    print(f"{'quantity':<30} {'autograd':>14} {'by hand':>14}")
    for name, auto, hand in rows:
        hand_text = "" if hand is None else f"{hand:>14.10f}"
        print(f"{name:<30} {auto:>14.10f} {hand_text}")
    worst = max(abs(auto - hand) for _, auto, hand in rows if hand is not None)
    print(f"\nlargest difference autograd vs hand formulas: {worst:.1e}")
    print("\nCentral differences on w and b:")
    print(gradcheck(lambda w_, b_: neuron_loss(w_, b_, x, y)[2], [w, b]))
    print("\nThe nodes, repr as in a REPL:", a, w, sep="\n  ")


if __name__ == "__main__":
    main()
