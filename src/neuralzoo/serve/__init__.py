"""``neuralzoo serve``: a local web application and JSON API over trained runs (``pip install
'neuralzoo[serve]'``).

- ``jobs.py``: what the server does with one run (``ServedRun``), framework-free;
- ``uploads.py``: request inputs -> tensors in the model's terms, refusals as ``BadInput`` (4xx);
- ``app.py``: the FastAPI application (``create_app``), the body limit and timing middleware;
- ``static/``: the page (HTML, JavaScript, CSS; nothing loaded from the network).
"""

from __future__ import annotations

from .app import create_app, require_serving
from .jobs import ServedRun

__all__ = ["ServedRun", "create_app", "require_serving"]
