"""Recurrent models (rnn, lstm, gru): the task follows from the data, shapes of every head, padding
never changes a result, bidirectional reading, and real learning on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralzoo.config import TrainConfig
from neuralzoo.data import ArrayData, DataConfig, DataInfo, TextInfo, load_dataset
from neuralzoo.errors import NeuralzooError
from neuralzoo.models.classifier import Classifier
from neuralzoo.registry import get_model_class
from neuralzoo.training.context import StepContext


def make(name: str, info: DataInfo, **config):
    cls = get_model_class(name)
    torch.manual_seed(0)
    return cls(cls.Config(**config), info)


def classify_info(steps=7, features=3, classes=4) -> DataInfo:
    return DataInfo(name="t", input_shape=(steps, features), num_classes=classes)


def fit(model, batch, steps=150, lr=1e-2):
    opt = model.optimizers(TrainConfig(lr=lr))
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    model.train()
    for _ in range(steps):
        out = model.train_step(batch, opt, ctx)
    return {k: float(v.detach()) for k, v in out.items()}


@pytest.mark.parametrize("name,cell", [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM),
                                       ("gru", torch.nn.GRU)])
def test_registered_names_differ_only_in_the_default_cell(name, cell):
    model = make(name, classify_info())
    assert type(model.rnn) is cell and model.config.cell == name
    assert type(make("lstm", classify_info(), cell="gru").rnn) is torch.nn.GRU   # the cell is a field


def test_task_follows_the_data_and_capabilities_are_structural(digits):
    rows = load_dataset(DataConfig(data="digits-rows"))
    series = load_dataset(DataConfig(data="sunspots", lookback=6, horizon=3))
    text = load_dataset(DataConfig(data="fable", seq_len=16))
    classifier, forecaster, language = (make("gru", d.info) for d in (rows, series, text))
    assert isinstance(classifier, Classifier) and hasattr(classifier, "predict_proba")
    assert not hasattr(classifier, "forecast") and not hasattr(classifier, "generate")
    assert hasattr(forecaster, "forecast") and not hasattr(forecaster, "predict_proba")
    assert hasattr(language, "generate") and not hasattr(language, "forecast")
    assert type(make("gru", rows.info)) is type(classifier)   # one class per (model, task)
    assert forecaster.monitor == ("loss", "min") and classifier.monitor == ("accuracy", "max")
    x = rows.train.x[:5]
    assert classifier(x).shape == (5, 10)
    assert torch.allclose(classifier.predict_proba(x).sum(1), torch.ones(5), atol=1e-5)
    assert classifier(digits.train.x[:5]).shape == (5, 10)   # (1, 8, 8) images are read row by row
    assert forecaster(series.train.x[:5]).shape == (5, 3, 1) == series.train.y[:5].shape
    assert language(text.train.x[:5]).shape == (5, 16, len(text.info.text.vocabulary))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling,bidirectional", [("last", False), ("mean", False), ("last", True),
                                                   ("mean", True)])
def test_padding_never_changes_the_result(name, pooling, bidirectional):
    model = make(name, classify_info(), pooling=pooling, bidirectional=bidirectional, hidden_size=8,
                 num_layers=2).eval()
    torch.manual_seed(1)
    lengths = torch.tensor([7, 3, 1, 5])
    x = torch.randn(4, 7, 3)
    garbage = x.clone()
    for i, n in enumerate(lengths):
        x[i, n:] = 0
        garbage[i, n:] = 1e3 * torch.randn(7 - n, 3)   # whatever sits in the padding
    batched = model(x, lengths)
    assert torch.equal(batched, model(garbage, lengths))
    for i, n in enumerate(lengths):   # each sample alone, unpadded
        alone = model(x[i:i + 1, :n])
        assert torch.allclose(batched[i], alone[0], atol=1e-5), (i, batched[i], alone[0])
    if pooling == "last" and not bidirectional:   # without lengths the padding would be read
        assert not torch.allclose(model(x)[2], batched[2], atol=1e-3)


def test_bidirectional_reads_the_sequence_backwards():
    model = make("gru", classify_info(), bidirectional=True, hidden_size=8).eval()
    x = torch.randn(2, 7, 3)
    outputs, final, _ = model.recur(x)
    assert outputs.shape == (2, 7, 16) and final.shape == (2, 16)
    assert torch.allclose(final[:, :8], outputs[:, -1, :8])   # forward: state after the last step
    assert torch.allclose(final[:, 8:], outputs[:, 0, 8:])    # backward: state after reading step 0


def test_classifier_learns_variable_length_sequences():
    """Class = whether the last real step is positive: only readable when the lengths are honoured."""
    torch.manual_seed(0)
    n, steps = 256, 10
    lengths = torch.randint(2, steps + 1, (n,))
    x = torch.randn(n, steps, 1)
    y = (x[torch.arange(n), lengths - 1, 0] > 0).long()
    for i, k in enumerate(lengths):
        x[i, k:] = 0
    model = make("gru", DataInfo(name="t", input_shape=(steps, 1), num_classes=2), hidden_size=16)
    out = fit(model, {"x": x, "y": y, "lengths": lengths}, steps=150)
    assert out["accuracy"] > 0.95, out
    probs = model.predict_proba(x, lengths=lengths)
    assert (probs.argmax(1) == y).float().mean() > 0.95
    # a model that reads whole samples refuses lengths rather than reading the padding
    mlp = make("mlp", DataInfo(name="t", input_shape=(steps, 1), num_classes=2))
    assert mlp.predict_proba(x).shape == (n, 2)
    with pytest.raises(NeuralzooError, match="lengths: 'mlp' reads whole samples"):
        mlp.predict_proba(x, lengths=lengths)
    with pytest.raises(NeuralzooError, match="seq.npz: 'mlp' reads whole samples"):   # nor trains on them
        mlp.prepare(TrainConfig(), ArrayData(x, y, source="seq.npz", lengths=lengths))


def test_language_model_overfits_a_tiny_text(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("hello world. " * 30)
    data = load_dataset(DataConfig(data=str(path), seq_len=16, val_fraction=0.0, test_fraction=0.0))
    model = make("lstm", data.info, hidden_size=64, embedding_dim=16)
    batch = data.train.batch(torch.arange(len(data.train)))
    first = float(model.loss(batch)["bits_per_char"].detach())
    out = fit(model, batch, steps=120, lr=1e-2)
    assert first > 2.5 and out["bits_per_char"] < 0.3, (first, out)   # log2(10 characters) = 3.3
    text = model.generate("hello", 26, temperature=0)
    assert text == "hello world. hello world. hello", text
    sampled = [model.generate("wor", 20, 0.8, torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    assert sampled[0] == sampled[1] and len(sampled[2]) == 23
    with pytest.raises(NeuralzooError, match="outside the training vocabulary"):
        model.generate("hello!", 5)


def test_forecaster_beats_the_naive_forecast(tmp_path):
    t = np.arange(400)
    values = np.sin(2 * np.pi * t / 16) + 0.05 * np.random.default_rng(0).standard_normal(400)
    (tmp_path / "s.csv").write_text("time,v\n" + "".join(f"{i},{v}\n" for i, v in zip(t, values)))
    data = load_dataset(DataConfig(data=str(tmp_path / "s.csv"), lookback=16, horizon=4))
    model = make("lstm", data.info, hidden_size=32)
    fit(model, data.train.batch(torch.arange(len(data.train))), steps=200, lr=1e-2)
    from neuralzoo.evaluation.forecasting import forecast_report

    report = forecast_report(model, data.test, data.train, data.info.series)["metrics"]
    assert report["model"]["rmse"] < 0.5 * report["naive"]["rmse"], report
    ahead = model.forecast(torch.from_numpy(values[:300]), 10)   # recursive beyond horizon 4
    assert ahead.shape == (10, 1) and torch.allclose(ahead[:, 0], torch.from_numpy(values[300:310]).float(),
                                                     atol=0.35)


@pytest.mark.slow
def test_linear_skip_extrapolates_beyond_the_training_range(tmp_path):
    """A steady trend leaves the training range in the test part: the saturating recurrent net
    alone cannot follow it, the linear autoregressive skip (LSTNet's highway) can."""
    values = 0.5 * np.arange(300) + np.sin(np.arange(300) / 3)
    (tmp_path / "t.csv").write_text("v\n" + "".join(f"{v}\n" for v in values))
    data = load_dataset(DataConfig(data=str(tmp_path / "t.csv"), lookback=8, val_fraction=0.0))
    assert data.test.y.min() > data.train.y.max()   # the test part lies above the training range
    errors = {}
    for skip in (False, True):
        model = make("gru", data.info, hidden_size=16, linear_skip=skip)
        fit(model, data.train.batch(torch.arange(len(data.train))), steps=300, lr=1e-2)
        model.eval()
        with torch.no_grad():
            errors[skip] = (model(data.test.x) - data.test.y).pow(2).mean().item()
        assert hasattr(model, "skip") == skip
    assert errors[True] < 0.1 * errors[False], errors


def test_relu_elman_cell_is_positively_homogeneous_where_tanh_saturates():
    """nonlinearity=relu builds torch's ReLU Elman cell; with zero biases its state is positively
    homogeneous, h(a x) = a h(x) for a > 0 (so it follows larger amplitudes), while tanh saturates."""
    x = torch.randn(4, 9, 1)
    summaries = {}
    for nonlinearity in ("relu", "tanh"):
        model = make("rnn", classify_info(steps=9, features=1), nonlinearity=nonlinearity, hidden_size=8)
        assert model.rnn.nonlinearity == nonlinearity
        with torch.no_grad():
            for name, weight in model.rnn.named_parameters():
                if name.startswith("bias"):
                    weight.zero_()
        summaries[nonlinearity] = [model.summarize(a * x) for a in (1.0, 10.0)]
    small, large = summaries["relu"]
    torch.testing.assert_close(large, 10 * small, rtol=1e-4, atol=1e-5)
    small, large = summaries["tanh"]
    assert large.abs().max() <= 1 and not torch.allclose(large, 10 * small, rtol=0.1)
    with pytest.raises(NeuralzooError, match="nonlinearity"):
        get_model_class("gru").Config(nonlinearity="relu")


def test_invalid_configs_name_the_field():
    cls = get_model_class("lstm")
    for bad, field in (({"hidden_size": 0}, "hidden_size"), ({"dropout": 1.0}, "dropout"),
                       ({"cell": "transformer"}, "cell"), ({"pooling": "max"}, "pooling")):
        with pytest.raises(NeuralzooError, match=field):
            cls.Config(**bad)
    info = DataInfo(name="t", input_shape=(8,), task="text", text=TextInfo("ab"))
    with pytest.raises(NeuralzooError, match="bidirectional"):
        make("lstm", info, bidirectional=True)


def test_forecasts_are_inverted_to_the_data_units(tmp_path):
    """With a transform the report and ``forecast`` speak the data's units: truth and history are
    the raw values, and the model's output goes through the inverse transform (not only unscaled)."""
    from neuralzoo.data.series import inverse_transform
    from neuralzoo.evaluation.forecasting import forecast_report

    values = 50 + 40 * np.sin(np.arange(200) / 3)
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{v}\n" for v in values))
    data = load_dataset(DataConfig(data=str(tmp_path / "s.csv"), lookback=8, val_fraction=0.0,
                                   transform="sqrt"))
    spec = data.info.series
    model = make("gru", data.info, hidden_size=8, linear_skip=True)
    model.eval()
    with torch.no_grad():
        raw = model(data.test.x)[:, 0, 0].double().numpy() * spec.std[0] + spec.mean[0]
    report = forecast_report(model, data.test, data.train, spec)["metrics"]
    truth = values[-len(data.test):]
    assert report["model"]["mse"] == pytest.approx(((inverse_transform(raw, "sqrt") - truth) ** 2).mean(), rel=1e-4)
    assert report["naive"]["mse"] == pytest.approx(((values[-len(data.test) - 1:-1] - truth) ** 2).mean(), rel=1e-4)
    ahead = model.forecast(torch.from_numpy(values[:-len(data.test)]), 1)
    assert ahead[0, 0].item() == pytest.approx(inverse_transform(raw[:1], "sqrt")[0], rel=1e-4)


def test_least_squares_linear_fit_is_the_ar_model_and_stays_fixed(tmp_path):
    """linear_fit least-squares (Zhang 2003's hybrid): the skip is the least-squares AR fit of the
    training windows, frozen; training changes only the network, which lowers the AR's error."""
    rng = np.random.default_rng(0)
    values = np.zeros(400)
    for t in range(2, 400):   # a nonlinear AR process: the linear part alone leaves structure
        values[t] = 0.6 * values[t - 1] - 0.5 * np.tanh(3 * values[t - 2]) + 0.1 * rng.standard_normal()
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{v}\n" for v in values))
    data = load_dataset(DataConfig(data=str(tmp_path / "s.csv"), lookback=4, val_fraction=0.0))
    model = make("gru", data.info, hidden_size=16, linear_skip=True, linear_fit="least-squares")
    model.prepare(TrainConfig(), data.train)
    x, y = data.train.x[..., 0].double(), data.train.y[:, 0, 0].double()
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    coef = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
    assert torch.allclose(model.skip.weight[0].double(), coef[:-1], atol=1e-5)
    assert model.skip.bias.item() == pytest.approx(coef[-1].item(), abs=1e-5)
    before = model.skip.weight.clone()
    ar_mse = ((design @ coef - y) ** 2).mean().item()
    result = fit(model, data.train.batch(torch.arange(len(data.train))), steps=300, lr=1e-2)
    assert torch.equal(model.skip.weight, before)
    assert result["loss"] < 0.8 * ar_mse, (result, ar_mse)
    # the default is this hybrid, with the linear part the data chose (none to choose on here:
    # least squares), and the network's output starting at zero: it starts as the linear model
    default = make("gru", data.info, hidden_size=8)
    default.prepare(TrainConfig(), data.train)
    assert data.info.series.linear_fit == "least-squares" and default.linear_fit == "least-squares"
    assert not default.skip.weight.requires_grad and not default.head.weight.any()
    with torch.no_grad():
        assert torch.allclose(default(data.train.x)[:, 0, 0].double(), design @ coef, atol=1e-4)


def test_ensemble_members_are_independent_and_averaged(tmp_path):
    """members 3: the forecast is the mean of three differently initialised networks, and one
    training step moves each exactly as training it alone on the same batch would."""
    values = np.sin(np.arange(120) / 3)
    (tmp_path / "s.csv").write_text("v\n" + "".join(f"{v}\n" for v in values))
    data = load_dataset(DataConfig(data=str(tmp_path / "s.csv"), lookback=6, val_fraction=0.0))
    ensemble = make("gru", data.info, hidden_size=8, linear_skip=True, members=3)
    batch = data.train.batch(torch.arange(32))
    members = [ensemble, *ensemble.others]
    with torch.no_grad():
        alone = [m.member_forecasts(batch["x"])[0] for m in members]
        assert torch.allclose(ensemble(batch["x"]), torch.stack(alone).mean(0), atol=1e-6)
        assert not torch.allclose(alone[0], alone[1])
    single = make("gru", data.info, hidden_size=8, linear_skip=True)
    single.load_state_dict({k: v for k, v in ensemble.state_dict().items() if not k.startswith("others.")})
    ensemble.loss(batch)["loss"].backward()
    single.loss(batch)["loss"].backward()            # the member's own loss: the same gradient
    assert torch.allclose(ensemble.head.weight.grad, single.head.weight.grad, atol=1e-6)
    assert "ensemble_mse" in ensemble.loss(batch)
    with pytest.raises(NeuralzooError, match="members"):
        make("gru", classify_info(), members=2)
    with pytest.raises(NeuralzooError, match="members"):
        get_model_class("gru").Config(members=0)
