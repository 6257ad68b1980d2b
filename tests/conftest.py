"""Shared test settings: the ``fuzz`` hypothesis profile, and how torch-marked tests skip.

``pytest --hypothesis-profile=fuzz tests/test_fuzz.py`` runs each fuzz property on
CHAINRULE_FUZZ_EXAMPLES random graphs (default 10,000); the normal suite keeps
the few hundred examples written in each test.

PyTorch is optional. Without it every test marked ``torch`` is skipped before it
starts, from here: the skip summary then shows one line for all of them, and
hypothesis never runs (and reports) their explicit examples.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "10000")),
    deadline=None,
    print_blob=True,  # a failure prints the @reproduce_failure line that replays it
)

TORCH_MISSING = importlib.util.find_spec("torch") is None
TORCH_SKIP_REASON = (
    "PyTorch is not installed, so the comparisons with PyTorch float64 did not run "
    "(optional: make test-torch installs torch==2.13.0 and runs them)"
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a torch-marked test when torch is missing, with the one reason above."""
    if TORCH_MISSING and item.get_closest_marker("torch") is not None:
        pytest.skip(TORCH_SKIP_REASON)
