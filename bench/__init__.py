"""Benchmarks of chainrule against micrograd and a plain-float floor (see bench/README.md).

Not part of the installed package nor of the test suite's timings; ``make bench`` runs them.
"""
