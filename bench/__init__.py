"""Benchmarks (pytest-benchmark); see bench/README.md. A package, so that ``bench/conftest.py`` does not
shadow ``tests/conftest.py`` as the top-level module ``conftest``."""
