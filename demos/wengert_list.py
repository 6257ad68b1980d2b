"""The Wengert list: a graph written as straight-line Python, and the three ways of training.

    python demos/wengert_list.py            # the lists: the seed neuron's cost, a 2-2-1 network
    python demos/wengert_list.py --time     # also: train 2-16-16-1 on the moons three ways, timed
    python demos/wengert_list.py --steps 20 # the same, 20 steps each (--steps implies --time)

Reverse mode is taught as an evaluation trace, one line per value going forward and
one line per adjoint coming back. ``engine.compile`` writes the engine's graph that
way, from the ops' own definitions (each line's comment is the op's formula), and
runs it. The batched form is the same code with every per-sample number an array
of m samples: each layer's linear nodes become the course's Z = W·A + b.
"""

from __future__ import annotations

import argparse
import time

import engine
import nn
from engine import Value, linear
from nn.train import MAX_STEPS


def seed_neuron_cost(w_0: Value, w_1: Value, b: Value) -> Value:
    """The source article's neuron, x = (1.5, −0.5), y = 1: z = wᵀx + b, a = σ(z),
    ℒ = −[y ln a + (1−y) ln(1−a)]."""
    x = [Value(1.5, label="x_0"), Value(-0.5, label="x_1")]  # the sample: leaves f reads, no gradient wanted
    z = linear([w_0, w_1], x, b)
    z.label = "z"
    a = z.sigmoid()
    a.label = "a"
    cost = nn.binary_cross_entropy([a], [1.0])
    cost.label = "L"
    return cost


def network_cost(model: nn.MLP):
    """One sample's cost through ``model`` (y = 1), as a function of the sample's two inputs."""

    def cost(x_0: Value, x_1: Value) -> Value:
        result = nn.binary_cross_entropy([model([x_0, x_1])], [1.0])
        result.label = "L"
        return result

    return cost


def show_lists() -> None:
    g = engine.compile(seed_neuron_cost)
    value, gradients = g(0.8, 0.3, -0.4)
    print("The seed neuron's cost as a Wengert list (engine.compile(cost).source):\n")
    print(g.source)
    print(f"L = {value:.6f}; dw_0, dw_1, db = {', '.join(f'{d:.6f}' for d in gradients)} "
          f"(dz = a − y, dw = x·dz, db = dz)\n")

    model = nn.MLP(2, [2, 1], seed=0)
    network = engine.compile(network_cost(model), parameters=model.parameters())
    network(0.5, -1.0)
    print("A 2-2-1 network (tanh, then σ), one sample: its parameters are the function's too\n")
    print(network.source)
    print("The same trace on m samples at once, each layer fused into one matrix product "
          "(network.batch_source(reduce='mean')):\n")
    print(network.batch_source(reduce="mean"))


def time_training(steps: int) -> None:
    X, y = nn.make_moons(100, noise=0.1, seed=0)
    print(f"Training 2-16-16-1 on 100 moons samples, {steps} steps (lr 0.3, momentum 0.9), three ways:")
    results = {}
    for mode, text in ((False, "the engine (a graph a step)"), (True, "compile=True (per sample)"),
                       ("numpy", 'compile="numpy" (batched)')):
        model = nn.MLP(2, [16, 16, 1], seed=0)
        started = time.perf_counter()
        history = nn.fit(model, X, y, lr=0.3, steps=steps, progress=False, compile=mode)
        seconds = time.perf_counter() - started
        results[mode] = (history, [p.data for p in model.parameters()])
        print(f"  {text:30} {seconds * 1e3 / steps:7.2f} ms a step (tracing included)   "
              f"final loss {history.final_loss:.6g}")
    base_history, base_parameters = results[False]
    for mode in (True, "numpy"):
        history, parameters = results[mode]
        loss_gap = max(abs(a - b) for a, b in zip(history.loss, base_history.loss))
        parameter_gap = max(abs(a - b) for a, b in zip(parameters, base_parameters))
        print(f"  compile={mode!r}: losses within {loss_gap:.1e}, parameters within {parameter_gap:.1e} "
              "of the engine's")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", action="store_true", help="also time the three ways of training")
    parser.add_argument("--steps", type=_steps, default=None,
                        help=f"training steps for --time, 1 to {MAX_STEPS:,} (default 100); implies --time")
    args = parser.parse_args(argv)
    show_lists()
    if args.time or args.steps is not None:
        time_training(100 if args.steps is None else args.steps)


def _steps(text: str) -> int:
    """An argparse type for --steps: an integer from 1 to fit's MAX_STEPS, checked before anything runs."""
    try:
        steps = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 1 <= steps <= MAX_STEPS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_STEPS:,} (nn.train.MAX_STEPS), got {text}")
    return steps


if __name__ == "__main__":
    main()
