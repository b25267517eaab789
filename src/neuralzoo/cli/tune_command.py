"""``neuralzoo tune``: hyperparameter search with Optuna over a model's settings (``tuning/``)."""

from __future__ import annotations

import argparse

from ..config import TrainConfig

from ..fields import add_flags
from ..data.config import DataConfig
from .base import command

SEARCH_FLAGS = ("trials", "space", "timeout", "study", "storage", "sampler", "pruner", "final",
                "preset", "config")


def tune_parser(model_cls: type | None = None) -> argparse.ArgumentParser:
    from ..tuning.study import PRUNERS, SAMPLERS

    parser = argparse.ArgumentParser(
        prog="neuralzoo tune", argument_default=argparse.SUPPRESS,
        description="Search a model's settings with Optuna: every trial is a run in STUDY/trial_NNNN, "
                    "scored by the family's validation metric after each epoch (the pruner may stop "
                    "it); the test part is read only by --final. The other flags fix a setting for "
                    "every trial.",
        epilog="Space files: TOML or JSON, one table per setting: [lr] type = \"float\" low = 1e-4 "
               "high = 1e-2 log = true; [channels] type = \"categorical\" choices = [\"32,64\", "
               "\"32,64,64\"]. Needs Optuna: pip install 'neuralzoo[tune]'.")
    parser.add_argument("model", help="registered model name (neuralzoo list)")
    search = parser.add_argument_group("search")
    search.add_argument("--trials", type=int, default=20, help="trials in the study in all (a continued "
                        "study or several workers share the count) (default: 20)")
    search.add_argument("--space", metavar="FILE", help="search space, TOML or JSON (default: the "
                        "family's: learning rate, batch size and its main architecture fields)")
    search.add_argument("--timeout", type=float, metavar="MIN", help="stop starting trials after this "
                        "many minutes")
    search.add_argument("--study", metavar="DIR", help="study folder: trials, journal, pictures; an "
                        "existing one continues (default: runs/tune-MODEL-TIMESTAMP)")
    search.add_argument("--storage", metavar="URL", help="an Optuna storage URL (e.g. sqlite:///s.db) "
                        "instead of the journal file in --study")
    search.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="tpe (default), random, or "
                        "grid (categorical dimensions only)")
    search.add_argument("--pruner", choices=PRUNERS, default="median", help="stop trials whose "
                        "validation figure lags: median (default), hyperband, none")
    search.add_argument("--final", action="store_true", default=False, help="retrain the best settings on "
                        "training + validation data and evaluate once on the test part")
    search.add_argument("--preset", metavar="NAME", help="start every trial from the model's preset")
    search.add_argument("--config", metavar="FILE", help="a settings file fixing settings of every trial")
    add_flags(parser, DataConfig, "data (fixed)")
    add_flags(parser, TrainConfig, "training (fixed)")
    if model_cls is not None:
        add_flags(parser, model_cls.Config, f"model {model_cls.name} (fixed)")
    return parser


@command("tune", "search a model's settings with Optuna (neuralzoo tune MODEL --help)")
def tune_command(argv: list[str]) -> int:
    from ..registry import get_model_class
    from ..tuning import tune

    model_cls = get_model_class(argv[0]) if argv and not argv[0].startswith("-") else None
    args = vars(tune_parser(model_cls).parse_args(argv))
    search = {k: args.pop(k) for k in SEARCH_FLAGS if k in args}
    tune(args.pop("model"), **search, **args)
    return 0
