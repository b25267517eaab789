"""neuralzoo serve's JSON API through FastAPI's TestClient: every endpoint, its answers checked
against the model called directly, and the refusals (bad pixels, bad uploads, oversize bodies,
capabilities a run lacks), each a 4xx with a one-line reason, never a 500."""

from __future__ import annotations

import base64
import io
import re
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi.testclient")   # Starlette 1.x imports httpx2, older ones httpx
from extras import requires  # noqa: E402

pytestmark = requires("captum", extra="serve")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

import neuralzoo  # noqa: E402
from neuralzoo.cli.serve_command import is_loopback, unique_names  # noqa: E402
from neuralzoo.serve import ServedRun, create_app  # noqa: E402



@pytest.fixture(scope="module")
def runs(shared_runs):
    return shared_runs({"cnn": ("cnn", {"data": "digits", "epochs": 8}),
                        "rnn": ("rnn", {"data": "digits-rows", "epochs": 3}),
                        "vae": ("vae", {"data": "digits", "latent_dim": 2, "epochs": 10}),
                        "autoencoder": ("autoencoder", {"data": "digits", "epochs": 10}),
                        "gan": ("gan", {"data": "digits", "conditional": True, "max_steps": 5}),
                        "gru": ("gru", {"data": "sunspots", "max_steps": 20}),
                        "lstm": ("lstm", {"data": "fable", "max_steps": 5})})


@pytest.fixture(scope="module")
def served(runs):
    return {name: ServedRun(name, neuralzoo.load(runs / name))
            for name in ("cnn", "rnn", "vae", "autoencoder", "gan", "gru", "lstm")}


@pytest.fixture(scope="module")
def client(served):
    return TestClient(create_app(list(served.values()), max_upload_bytes=64 * 1024))


def refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    for word in words:
        assert word in detail, detail


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def data_url_image(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_runs_are_listed_with_their_jobs_and_nothing_else(client):
    found = {run["name"]: run for run in client.get("/api/runs").json()}
    assert set(found) == {"cnn", "rnn", "vae", "autoencoder", "gan", "gru", "lstm"}
    assert found["cnn"]["jobs"] == ["classify"] and found["cnn"]["overlays"] == ["grad-cam", "saliency"]
    assert found["rnn"]["drawable"] and found["rnn"]["overlays"] == ["saliency"]
    assert set(found["vae"]["jobs"]) == {"latent", "sample", "anomaly"}
    assert found["gan"]["conditional"] and found["gan"]["jobs"] == ["sample"]
    assert found["gru"]["jobs"] == ["forecast"] and found["gru"]["length"] > 100
    assert found["lstm"]["jobs"] == ["generate"]
    assert client.get("/api/runs/vae").json()["name"] == "vae"
    assert client.get("/api/runs/..%2Fcnn").status_code == 404
    refused(client.get("/api/runs/etc/samples"), 404, "no run 'etc'")


def test_prediction_of_drawn_digits_matches_the_model_and_is_right(client, served, digits):
    x, y = digits.test.x[:40], digits.test.y[:40]
    answers = [client.post("/api/runs/cnn/predict", json={"pixels": row[0].tolist()}).json()
               for row in x]
    probabilities = torch.tensor([a["probabilities"][0] for a in answers])
    direct = served["cnn"].model.predict_proba(x)
    assert torch.allclose(probabilities, direct, atol=1e-5)
    assert torch.allclose(probabilities.sum(1), torch.ones(40), atol=1e-5)
    assert (torch.tensor([a["predicted"][0] for a in answers]) == y).float().mean() > 0.85
    # (1, 8, 8) and the grey (8, 8) drawing are the same input
    full = client.post("/api/runs/cnn/predict", json={"pixels": x[0].tolist()}).json()
    assert full["probabilities"] == answers[0]["probabilities"]


@pytest.mark.parametrize("name,overlay", [("cnn", "grad-cam"), ("cnn", "saliency"), ("rnn", "saliency")])
def test_overlays_cover_the_input_in_zero_to_one(client, digits, name, overlay):
    answer = client.post(f"/api/runs/{name}/predict",
                         json={"pixels": digits.test.x[0, 0].tolist(), "overlay": overlay}).json()
    heat = np.array(answer["overlay"])
    assert heat.shape == (8, 8) and answer["method"] == overlay and answer["overlay_degenerate"] is False
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    if name == "rnn":   # one value per time step (row), spread across the row
        assert (heat == heat[:, :1]).all()


def test_an_overlay_with_no_evidence_says_so(runs, digits):
    # constant logits: nothing to draw, and the answer says why instead of an empty overlay
    model = neuralzoo.load(runs / "cnn")
    model.head[-1].weight.data.zero_()
    answer = ServedRun("flat", model).predict(digits.test.x[:1], "grad-cam")
    assert answer["overlay_degenerate"] is True and np.array(answer["overlay"]).max() == 0


@pytest.mark.parametrize("pixels,words", [
    ([[0.0] * 8] * 7, ["shape (7, 8)", "(1, 8, 8)"]),
    ([[0.0] * 8] * 7 + [[0.0] * 7], ["not a rectangular array"]),
    ([[2.0] * 8] * 8, ["[0, 1]"]),
    ([["a"] * 8] * 8, ["not a rectangular array"]),
])
def test_bad_pixels_are_refused_in_one_line(client, pixels, words):
    refused(client.post("/api/runs/cnn/predict", json={"pixels": pixels}), 400, "pixels", *words)


def test_malformed_requests_get_422_in_one_line(client):
    as_json = {"content-type": "application/json"}
    nan = '{"pixels": [[NaN, 0, 0, 0, 0, 0, 0, 0]' + ', [0, 0, 0, 0, 0, 0, 0, 0]' * 7 + ']}'
    refused(client.post("/api/runs/cnn/predict", content=nan, headers=as_json), 400, "NaN")
    refused(client.post("/api/runs/cnn/predict", json={}), 422, "pixels")
    refused(client.post("/api/runs/cnn/predict", json={"pixels": [], "overlay": "x"}), 422, "overlay")
    refused(client.post("/api/runs/cnn/predict", content=b"{not json", headers=as_json), 422)
    refused(client.get("/api/runs/vae/samples?count=0"), 422, "count")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_every_float_input_must_be_finite(client, value):
    """A NaN point once decoded to a blank image (200) and a NaN temperature was refused as
    "should be <= 5": every float the API takes is refused as not finite, naming the field."""
    as_json = {"content-type": "application/json"}
    query = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[value]
    refused(client.post("/api/runs/vae/decode", content=f'{{"point": [{value}, 0]}}', headers=as_json),
            422, "point", "finite")
    refused(client.post("/api/runs/lstm/generate", content=f'{{"prompt": "a", "temperature": {value}}}',
                        headers=as_json), 422, "temperature", "finite")
    refused(client.get(f"/api/runs/vae/samples?temperature={query}"), 422, "temperature", "finite")
    refused(client.get(f"/api/runs/vae/interpolate?t={query}"), 422, "t", "finite")


def test_uploads_give_the_same_answer_as_pixels(client, digits):
    x = digits.test.x[:3]
    drawn = client.post("/api/runs/cnn/predict", json={"pixels": x[0, 0].tolist()}).json()
    image = client.post("/api/runs/cnn/predict/upload?overlay=grad-cam",
                        files={"file": ("digit.png", png_bytes(x[0, 0].numpy()), "image/png")}).json()
    assert image["names"] == ["digit.png"] and image["predicted"] == drawn["predicted"]
    assert np.allclose(image["probabilities"], drawn["probabilities"], atol=0.02)   # 8-bit PNG
    assert np.array(image["overlay"]).shape == (8, 8)
    rows = client.post("/api/runs/cnn/predict/upload",
                       files={"file": ("rows.npz", npz_bytes(x=x.numpy()))}).json()
    assert len(rows["probabilities"]) == 3 and rows["names"] == ["row0", "row1", "row2"]
    assert rows["probabilities"][0] == pytest.approx(drawn["probabilities"][0], abs=1e-6)


def test_bad_uploads_are_refused_never_500(client, digits):
    def upload(name: str, content: bytes, path: str = "/api/runs/cnn/predict/upload"):
        return client.post(path, files={"file": (name, content)})

    refused(upload("digit.png", b"GIF89a not a png"), 400, "digit.png", "cannot read image")
    refused(upload("notes.txt", b"hello"), 415, "notes.txt", "unsupported file type")
    refused(upload("../../etc/passwd", b"root"), 415, "passwd")
    refused(upload("empty.png", b""), 400, "empty.png", "empty")
    refused(upload("wide.npz", npz_bytes(x=np.zeros((2, 1, 8, 9), np.float32))), 400, "wide.npz",
            "(1, 8, 8)")
    refused(upload("rgb.npz", npz_bytes(x=np.zeros((2, 3, 8, 8), np.float32))), 400, "rgb.npz", "shape")
    nan = np.zeros((1, 1, 8, 8), np.float32)
    nan[0, 0, 3, 3] = np.nan
    refused(upload("nan.npz", npz_bytes(x=nan)), 400, "nan.npz", "NaN")
    refused(upload("pickle.npz", npz_bytes(x=np.array([{"a": 1}], dtype=object))), 400, "pickle.npz")
    refused(upload("nokey.npz", npz_bytes(y=np.zeros(3))), 400, "nokey.npz")
    refused(upload("big.png", b"\x89PNG" + bytes(100 * 1024)), 413, "upload limit")
    refused(client.post("/api/runs/cnn/predict/upload"), 422, "file")
    refused(upload("digit.png", png_bytes(digits.test.x[0, 0].numpy()), "/api/runs/gru/anomaly/upload"),
            400, "cannot score anomalies")


def test_latent_map_points_decode_to_their_codes(client, served, digits):
    model = served["vae"].model
    found = client.get("/api/runs/vae/latent-map").json()
    points = torch.tensor(found["points"])
    assert found["latent_dim"] == 2 and found["view"] == "the codes"
    assert points.shape == (len(digits.test.x), 2) and len(found["labels"]) == len(points)
    codes = model.encode(served["vae"].points)
    assert torch.allclose(points, codes, atol=1e-4)   # a 2-D latent space is its own map
    decoded = data_url_image(client.post("/api/runs/vae/decode", json={"point": points[5].tolist()})
                             .json()["image"])
    expected = model.decode(codes[5:6])[0, 0].detach().numpy()
    assert decoded.shape == (32, 32)   # 8x8 enlarged 4x for the page
    assert np.abs(decoded[::4, ::4] / 255 - expected).max() < 1 / 255 + 1e-6
    ae = client.get("/api/runs/autoencoder/latent-map").json()
    assert ae["latent_dim"] > 2 and "principal" in ae["view"] and np.array(ae["points"]).shape[1] == 2
    refused(client.post("/api/runs/vae/decode", json={"point": [1.0]}), 422, "point")


def test_interpolation_ends_at_the_two_samples_codes(client, served):
    model, points = served["vae"].model, served["vae"].points
    start = data_url_image(client.get("/api/runs/vae/interpolate?first=3&second=7&t=0").json()["image"])
    end = data_url_image(client.get("/api/runs/vae/interpolate?first=3&second=7&t=1").json()["image"])
    middle = data_url_image(client.get("/api/runs/vae/interpolate?first=3&second=7&t=0.5").json()["image"])
    codes = model.encode(points[[3, 7]])
    for picture, code in ((start, codes[0]), (end, codes[1]), (middle, codes.mean(0))):
        expected = model.decode(code[None])[0, 0].detach().numpy()
        assert np.abs(picture[::4, ::4] / 255 - expected).max() < 1 / 255 + 1e-5
    refused(client.get("/api/runs/vae/interpolate?first=0&second=99999"), 400, "99999")
    refused(client.get("/api/runs/vae/interpolate?t=1.5"), 422, "t")


def test_anomaly_scores_put_noise_above_typical_digits(client, digits):
    noise = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    rows = torch.cat([digits.test.x[:4], noise]).numpy()
    found = client.post("/api/runs/autoencoder/anomaly/upload",
                        files={"file": ("mixed.npz", npz_bytes(x=rows))}).json()
    percentiles = np.array(found["percentiles"])
    assert (percentiles[4:] > 95).all() and percentiles[:4].mean() < 80, percentiles
    drawn = client.post("/api/runs/autoencoder/anomaly", json={"pixels": rows[4, 0].tolist()}).json()
    assert drawn["scores"][0] == pytest.approx(found["scores"][4], rel=1e-5)


def test_sample_grids_follow_seed_count_and_class(client):
    def grid(query: str, run: str = "gan") -> np.ndarray:
        response = client.get(f"/api/runs/{run}/samples?{query}")
        assert response.status_code == 200, response.text
        return data_url_image(response.json()["image"])

    four = grid("count=4&seed=1&label=3")
    assert four.shape == (2 + 2 * 34, 2 + 2 * 34)   # 2x2 grid of 32-pixel images, 2-pixel gaps
    assert (four == grid("count=4&seed=1&label=3")).all()
    assert (four != grid("count=4&seed=2&label=3")).any()
    assert (four != grid("count=4&seed=1&label=5")).any()
    # the temperature scales the prior's draws: the same seed at another temperature, another grid
    assert (grid("count=4&temperature=0.5", "vae") != grid("count=4&temperature=1", "vae")).any()
    refused(client.get("/api/runs/vae/samples?temperature=0"), 400, "temperature")
    refused(client.get("/api/runs/vae/samples?label=3"), 400, "not class-conditional")
    refused(client.get("/api/runs/gan/samples?label=10"), 400, "10")
    refused(client.get("/api/runs/gan/samples?temperature=-1"), 400, "temperature")
    refused(client.get("/api/runs/cnn/samples"), 400, "cannot sample")


def test_forecast_with_baselines_and_held_out_truth(client, served):
    _series, values = served["gru"].series
    n = len(values)
    found = client.get("/api/runs/gru/forecast?horizon=6").json()
    assert found["origin"] == n - 6 and len(found["forecast"]) == 6
    assert np.allclose(np.array(found["truth"])[:, 0], values[n - 6:, 0])
    last = found["history"][-1][0]
    assert np.allclose(np.array(found["baselines"]["naive"])[:, 0], last)   # naive: the last value
    assert {"naive", "ar_" + str(served["gru"].model.info.series.ar_order)} <= set(found["baselines"])
    future = client.get(f"/api/runs/gru/forecast?horizon=3&origin={n}").json()
    assert future["truth"] == [[None]] * 3 and len(future["forecast"]) == 3
    refused(client.get("/api/runs/gru/forecast?origin=2"), 400, "origin 2")
    refused(client.get("/api/runs/gru/forecast?horizon=100000"), 400, "horizon")


def test_generated_text_continues_the_prompt(client):
    body = {"prompt": "The fox", "length": 40, "temperature": 0}
    first = client.post("/api/runs/lstm/generate", json=body).json()["text"]
    assert first.startswith("The fox") and len(first) == len("The fox") + 40
    assert client.post("/api/runs/lstm/generate", json=body).json()["text"] == first   # greedy
    refused(client.post("/api/runs/lstm/generate", json={**body, "length": 10 ** 6}), 422, "length")


def test_the_page_and_the_openapi_schema(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"pad\"" in page.text
    for asset in ("/static/app.js", "/static/style.css", "/"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text, asset   # nothing from the network
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/runs", "/api/runs/{name}/predict", "/api/runs/{name}/predict/upload",
                 "/api/runs/{name}/latent-map", "/api/runs/{name}/decode", "/api/runs/{name}/interpolate",
                 "/api/runs/{name}/anomaly", "/api/runs/{name}/samples", "/api/runs/{name}/forecast",
                 "/api/runs/{name}/generate"):
        assert path in paths
    assert "app;dur=" in client.get("/api/runs").headers["server-timing"]
    # /docs: Swagger UI from the package, not a CDN (offline it once showed a blank page)
    docs = client.get("/docs").text
    assert "http://" not in docs and "https://" not in docs and "SwaggerUIBundle" in docs
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', docs):
        assert client.get(asset).status_code == 200, asset


def test_the_serve_command_checks_its_runs_and_warns_off_loopback(cli, runs, monkeypatch, tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    assert unique_names([tmp_path / "a", tmp_path / "b" / "a", tmp_path / "c d"]) == ["a", "a-2", "c-d"]
    code, _, err = cli(["serve", tmp_path / "missing"])
    assert code == 2 and "no such run" in err and err.count("\n") == 1
    import uvicorn

    given = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: given.extend(sockets))
    code, out, err = cli(["serve", runs / "cnn", "--host", "0.0.0.0", "--port", "0"])
    assert code == 0 and "serving cnn" in out and "http://0.0.0.0:" in out
    assert "reachable from the network" in err
    # a TCP socket by name, so asyncio turns Nagle off on its connections (else ~40 ms per answer),
    # already listening on the port it printed
    assert given[0].proto == socket.IPPROTO_TCP and f":{given[0].getsockname()[1]}/" in out
    given[0].close()
    code, out, err = cli(["serve", runs / "cnn", "--port", "0"])
    assert code == 0 and "reachable" not in err
