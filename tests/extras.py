"""Skipping a test module whose optional extra is missing, without importing the extra at collection.

``pytest.importorskip`` at module level imports the library while pytest collects, in every process
that collects (each pytest-xdist worker): Opacus, Captum and the ONNX stack cost about 4 s of the fast
subset's collection that way. ``find_spec`` only looks the module up; the tests import it when they run.
"""

from __future__ import annotations

from importlib.util import find_spec

import pytest


def requires(*modules: str, extra: str) -> pytest.MarkDecorator:
    """A module-level ``pytestmark``: skip, naming the extra to install, when a module is missing."""
    missing = [m for m in modules if find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed: "
                                                    f"pip install -e '.[{extra}]'")
