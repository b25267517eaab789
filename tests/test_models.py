"""Tests every registered model gets (parametrized over the registry): adding a model adds its tests."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import neuralzoo
from neuralzoo.api import build_model, resolve
from neuralzoo.cli import main
from neuralzoo.config import TrainConfig
from neuralzoo.data import DataConfig, load_dataset
from neuralzoo.registry import MODELS, model_names
from neuralzoo.training.checkpoint import save_checkpoint
from neuralzoo.training.context import StepContext

NAMES = model_names()


def demo_settings(name: str) -> dict:
    return {"data": "digits", **MODELS[name].card.demo}


def inputs(model, batch: dict) -> torch.Tensor:
    """What ``forward`` takes: data, or noise for generators."""
    return model.noise(len(batch["x"])) if hasattr(model, "noise") else batch["x"]


def model_and_batch(name: str, n: int = 64, seed: int = 0, demo_model: bool = False):
    """The model on its demo data; ``demo_model``: with the demo's model settings too (the networks
    ``neuralzoo demo`` trains: e.g. the GAN's 256-wide MLPs, not its default 1024-wide ones)."""
    settings = demo_settings(name)
    fields = set(MODELS[name].Config.__dataclass_fields__)
    config = resolve(name, overrides={k: v for k, v in settings.items()
                                      if k == "data" or (demo_model and k in fields)})
    data = load_dataset(DataConfig(**{"data": settings["data"]}))
    model = build_model(config, data.info, seed)
    batch = data.train.batch(torch.arange(n))
    return model, batch, data, config


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape(name):
    model, batch, data, _ = model_and_batch(name)
    model.eval()
    out = model(inputs(model, batch))
    assert out.shape[0] == len(batch["x"])
    if data.info.num_classes and hasattr(model, "predict_proba"):
        assert out.shape == (len(batch["x"]), data.info.num_classes)
        probs = model.predict_proba(batch["x"])
        assert torch.allclose(probs.sum(1), torch.ones(len(probs)), atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_finite_scalar(name):
    model, batch, _, _ = model_and_batch(name)
    out = model.loss(batch)
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    assert all(torch.as_tensor(v).numel() == 1 for v in out.values())


@pytest.mark.parametrize("name", NAMES)
def test_train_steps_lower_loss_on_fixed_batch(name):
    model, batch, _, _ = model_and_batch(name, demo_model=True)
    cfg = TrainConfig(lr=MODELS[name].card.train_defaults.get("lr", 3e-3), bf16="off")
    optimizers = model.optimizers(cfg)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = cfg.lr
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    model.train()
    # GANs: the discriminator's loss on a fixed batch is what must fall (the generator's may rise)
    key = "d_loss" if hasattr(model, "noise") else "loss"
    if key == "loss":   # a fixed batch with fixed draws of the model's own (views, masks, noise)
        batch["noise_seed"] = torch.tensor(0)
    first = model.train_step(batch, optimizers, ctx)[key].item()
    for _ in range(60 if key == "d_loss" else 30):   # GANs at their own (low) learning rate
        last = model.train_step(batch, optimizers, ctx)[key].item()
    # a GAN's discriminator chases a generator that adapts too: a smaller but clear drop
    assert last < (0.85 if key == "d_loss" else 0.7) * first, (first, last)


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    model, batch, _, config = model_and_batch(name)
    config = replace(config, data_info=model.info)
    cfg = TrainConfig()
    optimizers = model.optimizers(cfg)
    ctx = StepContext(loss=model.loss, device=torch.device("cpu"), use_bf16=False)
    model.train_step(batch, optimizers, ctx)  # non-trivial weights and optimizer state
    save_checkpoint(tmp_path / "m.safetensors", model, optimizers, config.to_dict(), {"step": 1})
    loaded = neuralzoo.load(tmp_path / "m.safetensors")
    model.eval()
    assert type(loaded) is type(model)
    x = inputs(model, batch)
    for key, value in model.state_dict().items():   # the weights exactly ...
        assert torch.equal(loaded.state_dict()[key], value), key
    # ... and the outputs up to the kernel: a loaded image model infers channels-last, which for
    # inputs of more than one channel picks other convolution kernels (last-bit differences)
    assert torch.allclose(loaded(x), model(x), atol=1e-6, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cli_smoke(name, tmp_path, capsys):
    run = tmp_path / name
    settings = demo_settings(name)
    assert main(["train", name, "--data", settings["data"], "--max-steps", "3", "--epochs", "1",
                 "--out", str(run), "--no-progress"]) == 0
    assert (run / "checkpoints" / "last.safetensors").exists()
    assert (run / "config.json").exists() and (run / "metrics.jsonl").exists()
    assert main(["evaluate", str(run)]) == 0
    assert (run / "eval.json").exists()
    assert main(["plot", str(run)]) == 0
    assert (run / "curves.png").stat().st_size > 1000


def test_registry_rejects_duplicates_and_unknown_names():
    from neuralzoo.errors import NeuralzooError
    from neuralzoo.registry import get_model_class, register

    with pytest.raises(ValueError, match="already registered"):
        register(MODELS["mlp"].card)(type("Other", (), {}))
    with pytest.raises(TypeError, match="register takes the model's card"):
        register("other")
    with pytest.raises(NeuralzooError, match="unknown model 'nope'; choose from: .*cnn.*mlp"):
        get_model_class("nope")
