"""``attack`` (robust accuracy under L-infinity attacks) and ``audit`` (membership inference beside the
run's privacy and robustness figures)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import NeuralzooError
from .base import add_run_flags, command, output_paths

DEFAULT_LIMIT = 1000   # evaluation.robustness.DEFAULT_LIMIT, here so that --help imports no torch


def parse_radii(text: str) -> tuple[float, ...]:
    try:
        radii = tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise NeuralzooError(f"--eps {text!r}: give numbers separated by commas, e.g. 0.1,0.2,0.3") from None
    if not radii:
        raise NeuralzooError("--eps: give at least one radius")
    return radii


def add_attack_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The attack's flags (``prefix``: ``robustness-`` for ``evaluate --robustness``)."""
    parser.add_argument(f"--{prefix}method", default="pgd", help="fgsm, pgd (Madry et al. 2018) or "
                        "autoattack (Croce & Hein 2020, from torchattacks: pip install "
                        "'neuralzoo[robust]') (default: pgd)")
    parser.add_argument(f"--{prefix}eps", default="0.1,0.2,0.3", help="L-infinity radii, comma-separated, "
                        "in the model's input units: pixels in [0, 1] (default: 0.1,0.2,0.3)")
    parser.add_argument(f"--{prefix}limit", type=int, default=DEFAULT_LIMIT, help="attack the first N "
                        f"samples of the split; 0: all (default: {DEFAULT_LIMIT}: AutoAttack on 10,000 "
                        "MNIST images takes hours on a CPU)")
    parser.add_argument(f"--{prefix}steps", type=int, default=100, help="pgd: steps (default: 100, "
                        "Madry et al. 2018's evaluation)")
    parser.add_argument(f"--{prefix}step-size", type=float, default=0.01, help="pgd: step size "
                        "(default: 0.01, Madry et al. 2018 on MNIST)")
    parser.add_argument(f"--{prefix}restarts", type=int, default=1, help="pgd: random restarts; a sample "
                        "counts as broken when any restart breaks it (default: 1; Madry et al.'s MNIST "
                        "challenge: 50)")
    parser.add_argument(f"--{prefix}version", choices=("standard", "apgd"), default="standard",
                        help="autoattack: standard (APGD-CE, APGD-T, FAB-T, Square) or apgd (APGD-CE + "
                        "APGD-T, the cheaper subset) (default: standard)")
    parser.add_argument(f"--{prefix}seed", type=int, default=0, help="seed of the random starts")


def attack_settings(args: dict[str, Any], prefix: str = "") -> Any:
    from ..evaluation.robustness import AttackSettings

    def get(name: str) -> Any:
        return args[prefix.replace("-", "_") + name]

    return AttackSettings(method=get("method"), eps=parse_radii(get("eps")), limit=get("limit") or None,
                          steps=get("steps"), step_size=get("step_size"), restarts=get("restarts"),
                          version=get("version"), seed=get("seed"))


@command("attack", "robust accuracy of a classifier under L-infinity attacks (FGSM, PGD, AutoAttack)")
def attack_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="neuralzoo attack", description="Robust accuracy of a classifier on its run's test split "
        "under L-infinity attacks -> attack.json, attack_curve.png (accuracy over eps) and "
        "attack_examples.png (originals above their adversarial versions at the largest eps).")
    add_run_flags(parser)
    add_attack_flags(parser)
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--output", help="stem of the files (default: RUN_DIR/attack)")
    args = vars(parser.parse_args(argv))
    settings = attack_settings(args)   # unknown method, bad numbers: before loading anything

    from ..evaluation import eval_data_config, load_eval_data
    from ..evaluation.robustness import check_attackable, robust_accuracy, save_pictures
    from ..runs import load, run_dir_of
    from ..training.context import resolve_device

    model = load(args["run"], args["checkpoint"], resolve_device(args["device"]), args["precision"])
    check_attackable(model)
    data = load_eval_data(model, eval_data_config(model, {}), need_validation=args["split"] != "test")
    part = data.split(args["split"])
    paths = output_paths(args.get("output"), run_dir_of(args["run"]) / "attack", json=(".json",))
    result = robust_accuracy(model, part.x, part.y, settings)
    result["split"], result["split_samples"] = args["split"], len(part)
    written = save_pictures(model, result, paths["json"].with_suffix(""))
    result.pop("examples")
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    subset = f"the first {result['samples']} of {len(part)} {args['split']} samples"
    print(f"clean accuracy {result['clean_accuracy']:.2f}% on {subset}")
    for eps, accuracy in result["robust_accuracy"].items():
        print(f"eps {eps}: robust accuracy {accuracy:.2f}% under {result['method']} ({subset}, "
              f"seed {settings.seed})")
    print(f"wrote {paths['json']}, " + ", ".join(map(str, written)))
    return 0


@command("audit", "membership inference (loss threshold) beside a run's privacy epsilon and robustness")
def audit_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="neuralzoo audit", description="How much a run leaks about its training samples: the "
        "loss-threshold membership attack (Yeom et al. 2018) as AUC and advantage on training vs "
        "held-out test samples, beside the run's DP epsilon and robustness figures where it has them "
        "-> audit.json.")
    add_run_flags(parser)
    parser.add_argument("--limit", type=int, default=None, help="at most N samples of each side "
                        "(default: as many training samples as the test split holds)")
    parser.add_argument("--output", help="the JSON file (default: RUN_DIR/audit.json)")
    args = vars(parser.parse_args(argv))
    if args["limit"] is not None and args["limit"] < 1:
        raise NeuralzooError(f"--limit must be >= 1, got {args['limit']}")

    from ..evaluation.membership import audit_data, membership_inference, run_privacy
    from ..evaluation.robustness import check_attackable
    from ..runs import load, run_dir_of
    from ..training.context import resolve_device

    model = load(args["run"], args["checkpoint"], resolve_device(args["device"]), args["precision"])
    check_attackable(model)
    train, test = audit_data(model)
    result = {"model": model.run_config.model, "checkpoint": model.checkpoint,
              "membership": membership_inference(model, train, test, args["limit"]),
              **run_privacy(run_dir_of(args["run"]), model.checkpoint)}
    result.setdefault("dp_epsilon", None)
    path = output_paths(args.get("output"), run_dir_of(args["run"]) / "audit", json=(".json",))["json"]
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
    member = result["membership"]
    print(f"membership inference (loss threshold, {member['samples_each']} training vs "
          f"{member['samples_each']} test samples): AUC {member['auc']:.3f}, advantage "
          f"{member['advantage']:.3f} (0.5 / 0: chance)")
    print("differential privacy: " + (result["privacy"]["guarantee"] if result["dp_epsilon"] is not None
                                       else "none recorded (not a DP run)"))
    if "robustness" in result:
        block = result["robustness"]
        print(f"robustness ({block['method']}, {block['samples']} samples): " + ", ".join(
            f"eps {e}: {a:.2f}%" for e, a in block["robust_accuracy"].items()))
    print(f"wrote {path}")
    return 0
