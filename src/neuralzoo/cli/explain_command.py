"""``neuralzoo explain``: attributions of a classifier's decisions (Captum), latent traversals of a
VAE or autoencoder, walks through a GAN's noise."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import NeuralzooError
from .base import add_run_flags, command, inference


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralzoo explain", description="Classifiers: attribution maps of each input (saliency, "
        "integrated gradients, Grad-CAM, occlusion; pip install 'neuralzoo[explain]') -> explain.npz and a "
        "PNG per input. VAE / autoencoder: latent traversals around an input's code. GAN: walks along "
        "random and principal directions of the noise.")
    add_run_flags(parser)
    parser.add_argument("--input", help="classifier, VAE, autoencoder: an image, a folder of images or an "
                        ".npz with key 'x' (default: the first test samples of the run's data)")
    parser.add_argument("--samples", type=int, default=4, help="without --input: how many test samples "
                        "(default: 4)")
    parser.add_argument("--method", default="saliency,integrated-gradients,grad-cam,occlusion",
                        help="classifiers: comma-separated methods (default: all four; grad-cam needs a "
                             "convolution)")
    parser.add_argument("--target", type=int, default=None, help="classifiers: the class (index) to "
                        "explain (default: each input's predicted class)")
    parser.add_argument("--steps", type=int, default=9, help="traversals and walks: images per row "
                        "(default: 9)")
    parser.add_argument("--span", type=float, default=3.0, help="traversals and walks: from -SPAN to "
                        "+SPAN standard deviations (default: 3)")
    parser.add_argument("--directions", choices=("random", "principal"), default="principal",
                        help="GANs: the directions of the walks (default: principal)")
    parser.add_argument("--label", type=int, default=None, help="conditional GANs: the class to draw "
                        "(default: one picture per class)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", metavar="DIR", help="folder for the files (default: RUN/explain)")
    return parser


@command("explain", "why a classifier decided (attribution maps); what a latent space encodes (traversals)")
@inference
def explain_command(argv: list[str]) -> int:
    import torch

    from ..data import read_inputs
    from ..evaluation import eval_data_config, load_eval_data
    from ..images import save_image_grid
    from ..runs import load, run_dir_of
    from ..training.context import resolve_device

    args = _parser().parse_args(argv)
    if args.samples < 1 or args.steps < 2 or not args.span > 0:
        raise NeuralzooError("--samples must be >= 1, --steps >= 2 and --span > 0")
    model = load(args.run, args.checkpoint, resolve_device(args.device), args.precision)
    out = Path(args.output) if args.output else run_dir_of(args.run) / "explain"
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(args.seed)
    if hasattr(model, "latent_draw"):   # a GAN: walks through its noise
        from ..evaluation.traversal import gan_walks

        labels = ([args.label] if args.label is not None or not model.config.conditional
                  else list(range(model.num_classes)))
        for label in labels:
            walk = gan_walks(model, args.directions, 8, args.steps, args.span, generator, label)
            name = f"walks_{args.directions}" + ("" if label is None else f"_class{label}")
            print(f"wrote {save_image_grid(walk.float(), out / f'{name}.png', nrow=args.steps)}")
        return 0
    if args.input:
        x, names, _ = read_inputs(args.input, model.info)
        data = None
    else:
        data = load_eval_data(model, eval_data_config(model, {}), need_validation=False)
        x, names = data.test.x[:args.samples], [f"test{i}" for i in range(min(args.samples, len(data.test)))]
    if hasattr(model, "predict_proba"):
        return _attributions(model, x, names, args, out)
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise NeuralzooError(f"model {model.name!r} has nothing explain covers (classifiers, latent "
                             "models, GANs)")
    from ..evaluation.traversal import latent_traversal

    reference = data or load_eval_data(model, eval_data_config(model, {}), need_validation=False)
    for row, name in zip(x, names):
        images, order, activity = latent_traversal(model, row, reference.test.x[:2000], args.steps,
                                                   args.span)
        path = save_image_grid(images.float(), out / f"traversal_{Path(name).stem}.png", nrow=args.steps)
        unit = "KL nats" if hasattr(model, "posterior") else "code std"
        print(f"wrote {path}: rows = dimensions {order} ({unit} {activity})")
    return 0


def _attributions(model, x, names: list[str], args: argparse.Namespace, out: Path) -> int:
    import numpy as np
    import torch

    from ..evaluation.explain import explain
    from ..plots import save_attribution

    methods = tuple(m.strip() for m in args.method.split(",") if m.strip())
    with torch.enable_grad():   # attributions need gradients; the command runs under no_grad
        found = explain(model, x, methods, args.target)
    classes = model.info.class_names or [str(i) for i in range(model.num_classes)]
    arrays = {f"map_{m.replace('-', '_')}": v.numpy() for m, v in found.maps.items()}
    arrays.update({f"degenerate_{m.replace('-', '_')}": v.numpy() for m, v in found.degenerate.items()})
    if found.convergence_delta is not None:
        arrays["integrated_gradients_delta"] = found.convergence_delta.numpy()
    np.savez_compressed(out / "explain.npz", inputs=x.numpy(), probabilities=found.probabilities.numpy(),
                        targets=found.targets.numpy(), names=np.array(names), **arrays)
    for i, name in enumerate(names):
        target = int(found.targets[i])
        path = save_attribution(x[i].numpy(), {m: v[i].numpy() for m, v in found.maps.items()},
                                found.probabilities[i].numpy(), classes, target,
                                out / f"explain_{Path(name).stem}.png",
                                f"{name}: class {classes[target]} ({found.probabilities[i, target]:.1%})")
        print(f"wrote {path}")
        for method, flags in found.degenerate.items():
            if flags[i]:
                print(f"{name}: {method} all zero (degenerate): no evidence for class {classes[target]}")
    if "grad-cam" in found.notes:
        print(f"grad-cam: {found.notes['grad-cam']}")
    if found.convergence_delta is not None:
        print(f"integrated gradients: largest completeness gap {found.convergence_delta.abs().max():.3g} "
              "(sum of attributions - (logit(x) - logit(baseline)))")
    print(f"wrote {out / 'explain.npz'}")
    return 0

