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


def _leaves(block, path=()):
    for key, value in block.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield (*path, key), value


def test_every_figure_of_a_forecasters_eval_json_appears_with_its_unit(cli, tmp_path):
    """The report once showed a forecaster's scaled loss and not its MAE, MASE and baselines."""
    neuralzoo.train("gru", out=tmp_path / "gru", data="sunspots", epochs=2, progress=False, verbose=False)
    assert cli(["evaluate", tmp_path / "gru"])[0] == 0
    assert cli(["report", tmp_path / "gru", "--output", tmp_path / "r.html"])[0] == 0
    page = (tmp_path / "r.html").read_text()
    evaluation = json.loads((tmp_path / "gru" / "eval.json").read_text())
    skipped = {"protocol", "headline", "baselines"}   # the protocol line, the runs and baselines tables
    for path, value in _leaves(evaluation):
        if path[0] not in skipped:
            assert f"<td>{value:.4g}</td>" in page or f"<td>{value}</td>" in page, path
    forecast = page[page.index("<h4>forecast.metrics</h4>"):]
    assert all(f"<td>{who}</td>" in forecast for who in evaluation["forecast"]["metrics"])   # baselines
    assert "mase: ratio to the in-sample naive" in forecast
    assert "mae: the data&#x27;s own (unscaled)" in forecast
    assert "<td>metrics.mae</td><td>%.4g</td><td>the scaled data" % evaluation["metrics"]["mae"] in page


def test_a_vaes_likelihood_is_named_with_its_unit():
    from neuralzoo.evaluation.report_figures import figure_rows

    units = "nats per example (sum over features, mean over examples)"
    rows, tables = figure_rows({"headline": {"value": 25.0}, "metrics": {"nelbo": 26.0, "loss": 26.0},
                                "likelihood": {"nll": 25.0, "iw_samples": 5000, "active_units": 3,
                                               "units": units, "kl_per_dimension": [0.1, 0.2]},
                                "squared_error": 6.8, "squared_error_units": "sum over features",
                                "confusion_matrix": [[3, 1], [0, 4]]})
    found = {name: (value, unit) for name, value, unit in rows}
    assert found["likelihood.nll"] == (25.0, units) and found["likelihood.iw_samples"] == (5000, "count")
    assert found["likelihood.active_units"] == (3, "count")   # a figure, though its name ends in _units
    assert found["likelihood.kl_per_dimension"][1] == "nats per example"
    assert found["metrics.nelbo"] == (26.0, "nats per example")
    assert found["squared_error"] == (6.8, "sum over features") and "headline.value" not in found
    assert found["metrics.loss"][1].startswith("nats per example")
    assert all(unit for _name, _value, unit in rows)
    (name, matrix, unit), = tables   # a matrix is a table, not a flattened list
    assert name == "confusion_matrix" and matrix["1"] == {"0": 0, "1": 4} and unit.startswith("count")


def test_curve_panels_wrap_two_to_a_row(tmp_path):
    from PIL import Image

    from neuralzoo.plots import save_curves

    events = [{"event": "train", "epoch": e, "loss": 1 / e} for e in (1, 2)] + [
        {"event": "val", "epoch": e, "val_loss": 1 / e, "val_kl": e, "val_nelbo": 2 / e,
         "val_reconstruction": 3 / e} for e in (1, 2)]
    width, height = Image.open(save_curves(events, tmp_path / "c.png", "vae")).size
    assert width / height < 2   # four panels in one row came out 5.3 times as wide as high
