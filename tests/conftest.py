"""Shared test settings: the ``fuzz`` hypothesis profile used by ``make fuzz``.

``pytest --hypothesis-profile=fuzz tests/test_fuzz.py`` runs each fuzz property on
CHAINRULE_FUZZ_EXAMPLES random graphs (default 10,000); the normal suite keeps
the few hundred examples written in each test.
"""

import os

from hypothesis import settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "10000")),
    deadline=None,
    print_blob=True,  # a failure prints the @reproduce_failure line that replays it
)
