"""Every figure of an ``eval.json`` as rows of (figure, value, unit) for ``neuralzoo report``.

The report once showed only the ``metrics`` block (a forecaster's loss on the scaled data instead of
its MAE and MASE beside the baselines; a VAE's importance-sampled NLL only in the headline). Here the
whole file is walked: nested blocks become dotted names, a block whose members share the same figures
(a forecaster's model and baselines, a classifier's per-class scores) becomes one table, and each
figure gets its unit, from the block's own ``units`` note where it has one, else from its name.
"""

from __future__ import annotations

from typing import Any

# shown elsewhere in the report (protocol, headline, baselines table, warnings) or not a figure
SHOWN_ELSEWHERE = {"model", "checkpoint", "protocol", "headline", "baselines", "warnings", "reporters",
                   "files", "headline_note"}
FRACTIONS = {"accuracy", "balanced_accuracy", "pr_auc", "macro_f1", "f1", "precision", "recall",
             "knn_accuracy", "auroc", "average_precision", "flagged_fraction", "next_character_accuracy",
             "linear_error"}
COUNTS = {"errors", "support", "samples", "windows", "generated", "real", "k", "iw_samples",
          "latent_dim", "active_units", "characters", "vocabulary", "flagged", "anomalies", "draws"}
NAMED = {"horizon": "steps", "period": "steps", "smape": "percent",
         "mase": "ratio to the in-sample naive forecast's MAE",
         "bits_per_char": "bits per character", "perplexity": "characters (2^bits per char)",
         "confusion_matrix": "count (rows: true class, columns: predicted)",
         "seconds": "seconds", "temperature": "prior scale", "eval_seed": "seed",
         "frechet_distance": "squared distance in the feature network's space",
         "class_histogram": "fraction of samples per class", "threshold": "anomaly score",
         "kl_per_dimension": "nats per example", "posterior_mean_variance": "latent units squared",
         "mase_scale": "the data's own units (in-sample naive MAE)",
         "active_unit_threshold": "latent units squared", "chosen_c": "inverse regularisation",
         "squared_error": "sum over features of (x - reconstruction)^2, per example"}
NATS = {"nll", "nelbo", "kl", "kl_total", "reconstruction", "nll_standard_error"}
DATA_UNITS = {"mae", "rmse", "rmse_per_step"}


def _unit(path: tuple[str, ...], value: Any, block: dict[str, Any], units: str | None,
          forecaster: bool = False) -> str:
    """The unit of the figure at ``path``: a ``NAME_units`` note beside it, else the innermost name
    along the path that says one (``forecast.rmse_per_step.naive`` is in the data's units), with
    ``units``, the nearest enclosing block's own note, for the figures in the data's units."""
    if f"{path[-1]}_units" in block:
        return str(block[f"{path[-1]}_units"])
    if path[0] == "metrics":   # the training objective's own figures, on the test split
        objective = _objective_unit(path[-1], block, forecaster)
        if objective:
            return objective
        units = "nats per example"
    for leaf in reversed(path):
        if leaf in DATA_UNITS:
            return units or "the data's units"
        if leaf == "mse":
            return f"({units}) squared" if units else "the data's units squared"
        if leaf in NATS or leaf.endswith("_nats"):
            return units if units and "nats" in units else "nats"
        if leaf in NAMED:
            return NAMED[leaf]
        if leaf in FRACTIONS:
            return "fraction (1 = all)"
        if leaf in COUNTS:
            return "count"
        if leaf.endswith("_seed"):
            return "seed"
    return "" if isinstance(value, str) or value is None else "as named"


def _objective_unit(leaf: str, block: dict[str, Any], forecaster: bool) -> str:
    """The unit of the loss (and a forecaster's errors, in its preprocessed units); "" for a figure
    whose name says its unit."""
    if forecaster and leaf in ("loss", *DATA_UNITS, "mse"):
        return "the scaled data the model trains on (see forecast for the data's own units)"
    if leaf == "loss":
        if "accuracy" in block:
            return "nats per prediction (the training cross-entropy)"
        return ("nats per example (the training objective: -ELBO with its KL weight)" if "nelbo" in block
                else "the training objective's units, per example")
    return ""


def _is_table(block: dict[str, Any]) -> bool:
    """A block of two or more members that are each a flat dict of the same numeric figures."""
    members = list(block.values())
    if len(members) < 2 or not all(isinstance(m, dict) and m for m in members):
        return False
    keys = set(members[0])
    return all(set(m) == keys and all(isinstance(v, (int, float)) or v is None for v in m.values())
               for m in members)


def figure_rows(evaluation: dict[str, Any]) -> tuple[list[list[Any]], list[tuple[str, dict, str]]]:
    """(rows of [figure, value, unit], tables as (name, {member: {figure: value}}, units))."""
    rows: list[list[Any]] = []
    tables: list[tuple[str, dict, str]] = []
    forecaster = "forecast" in evaluation

    def walk(block: dict[str, Any], path: tuple[str, ...], units: str | None) -> None:
        units = str(block["units"]) if isinstance(block.get("units"), str) else units
        for key, value in block.items():
            if not path and key in SHOWN_ELSEWHERE or key == "units" or key[:-6] in block:   # NAME_units
                continue
            name = ".".join((*path, key))
            if isinstance(value, dict) and _is_table(value):
                first = next(iter(value.values()))
                said = "; ".join(f"{figure}: {_unit((*path, key, figure), 0.0, block, units, forecaster)}"
                                 for figure in first)
                tables.append((name, value, said))
            elif isinstance(value, dict):
                walk(value, (*path, key), units)
            elif isinstance(value, list) and len(value) > 1 and all(
                    isinstance(v, list) and len(v) == len(value[0]) for v in value):   # a matrix
                members = {str(i): {str(j): v for j, v in enumerate(row)} for i, row in enumerate(value)}
                tables.append((name, members, _unit((*path, key), value, block, units, forecaster)))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for index, member in enumerate(value):
                    walk(member, (*path, f"{key}[{index}]"), units)
            else:
                rows.append([name, value, _unit((*path, key), value, block, units, forecaster)])

    walk(evaluation, (), None)
    return rows, tables
