"""neuralzoo report: one self-contained page (no network, images inlined) over runs, escaped text."""

from __future__ import annotations

import json
import re

import pytest

import neuralzoo


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    neuralzoo.train("mlp", out=folder / "mlp", data="digits", epochs=2, progress=False, verbose=False)
    neuralzoo.train("autoencoder", out=folder / "ae", data="digits", max_steps=20, progress=False,
                    verbose=False)
    return folder


def test_report_over_two_runs_is_self_contained(runs, cli, tmp_path):
    assert cli(["evaluate", runs / "mlp"])[0] == 0
    code, out, err = cli(["report", runs / "mlp", runs / "ae", "--output", tmp_path / "r.html",
                          "--title", "a <b> test"])
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    evaluation = json.loads((runs / "mlp" / "eval.json").read_text())
    assert "a &lt;b&gt; test" in page and "<b> test" not in page   # text from outside is escaped
    assert "mlp (mlp)" in page and "autoencoder (ae)" in page   # the comparison table's rows
    assert f"{evaluation['headline']['value']:.4g}" in page
    assert evaluation["protocol"]["description"][:40].replace("&", "&amp;") in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)   # nothing to fetch
    assert "confusion.png" in page and "Not evaluated yet" in page   # the AE run was not evaluated


def test_report_refuses_a_folder_that_is_not_a_run(cli, tmp_path):
    code, out, err = cli(["report", tmp_path, "--output", tmp_path / "r.html"])
    assert code == 2 and "not a neuralzoo run directory" in err and not (tmp_path / "r.html").exists()
