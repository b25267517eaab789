"""Pictures written into run directories (matplotlib's Agg backend: no screen needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence
import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int) -> Path:
    """Write ``fig`` to ``path`` (its folder made) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def save_curves(events: list[dict], path: Path, title: str = "") -> Path:
    """Training loss per log step and every validation metric per epoch."""
    plt = _pyplot()
    train = [e for e in events if e.get("event") == "train"]
    val = [e for e in events if e.get("event") == "val"]
    metrics = sorted({k[4:] for e in val for k in e if k.startswith("val_")} |
                     {k for e in train for k in e if k in ("loss", "accuracy")})
    metrics = metrics or ["loss"]
    # at most two panels a row: four in one row came out 18 inches wide, and the report's page shrank
    # them (and their text) to half size
    columns = min(2, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, metrics):
        xs = [e["epoch"] for e in train if isinstance(e.get(name), (int, float))]
        if xs:
            ax.plot(xs, [e[name] for e in train if isinstance(e.get(name), (int, float))],
                    label="train", alpha=0.8)
        vx = [e["epoch"] for e in val if isinstance(e.get(f"val_{name}"), (int, float))]
        if vx:
            ax.plot(vx, [e[f"val_{name}"] for e in val if isinstance(e.get(f"val_{name}"), (int, float))],
                    "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        if "loss" in name and xs and min(e[name] for e in train if name in e) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path, dpi=110)


def save_forecast(times: np.ndarray, history: np.ndarray, future_times: np.ndarray, forecast: np.ndarray,
                  truth: np.ndarray | None, columns: Sequence[str], path: Path, title: str = "") -> Path:
    """History, forecast and (where known: NaN elsewhere) truth of each column, one panel each."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(columns), 1, figsize=(8, 2.8 * len(columns)), squeeze=False)
    for c, (ax, name) in enumerate(zip(axes[:, 0], columns)):
        ax.plot(times, history[:, c], color="black", lw=1, label="history")
        ax.plot(future_times, forecast[:, c], "o-", color="tab:blue", ms=3, label="forecast")
        if truth is not None and np.isfinite(truth[:, c]).any():
            ax.plot(future_times, truth[:, c], "s--", color="tab:orange", ms=3, label="truth")
        ax.axvline(future_times[0], color="grey", lw=0.8, ls=":")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return _save(fig, path, dpi=110)


def save_latent_map(codes: np.ndarray, labels: np.ndarray | None, class_names: list[str] | None,
                    path: Path, title: str = "") -> str:
    """Scatter of 2-D codes coloured by label; larger codes are projected on their first two
    principal components. Returns how the map was made."""
    plt = _pyplot()
    if codes.shape[1] == 1:
        points, how = np.column_stack([codes[:, 0], np.zeros(len(codes))]), "1-D codes"
    elif codes.shape[1] == 2:
        points, how = codes, "2-D codes"
    else:
        from sklearn.decomposition import PCA

        pca = PCA(2).fit(codes)
        points = pca.transform(codes)
        how = (f"PCA of {codes.shape[1]}-D codes, {pca.explained_variance_ratio_.sum():.0%} of their "
               "variance")
    fig, ax = plt.subplots(figsize=(6, 5))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.6)
    else:
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=3, alpha=0.7)
        names = class_names or [str(v) for v in np.unique(labels)]
        handles = [plt.Line2D([], [], marker="o", ls="", color=sc.cmap(sc.norm(i)), label=names[i])
                   for i in np.unique(labels)]
        ax.legend(handles=handles, fontsize=7, markerscale=1.2, loc="best")
    ax.set_title(f"{title}\n{how}", fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=120)
    return how


def save_roc(fpr: np.ndarray, tpr: np.ndarray, auroc: float, path: Path, title: str = "") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot(fpr, tpr, label=f"AUROC {auroc:.4f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, path, dpi=120)


def attribution_title(name: str, value: np.ndarray) -> str:
    """A map's panel title: its method, and what is wrong when the map shows nothing (all zero:
    no evidence for the class, e.g. Grad-CAM on a class the input has nothing of; not finite)."""
    if not np.isfinite(value).all():
        return f"{name}: not finite"
    return name if np.abs(value).max(initial=0.0) > 0 else f"{name}: all zero"


def save_attribution(sample: np.ndarray, maps: dict[str, np.ndarray], probabilities: np.ndarray,
                     class_names: list[str], target: int, path: Path, title: str = "") -> Path:
    """One input and its attribution maps side by side, and the predicted probabilities. Images
    (C, H, W): each map (summed over channels) over the grey input, red for evidence for the class,
    blue against; sequences (steps, features): the input as an image with one bar per time step
    beside it; vectors: one bar per feature. A map that is all zero (or not finite) is named so in
    its panel rather than drawn as an empty overlay."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(maps) + 2, figsize=(2.4 * (len(maps) + 2), 2.8))
    image = sample.mean(0) if sample.ndim == 3 else sample
    for ax, (name, value) in zip(axes[1:-1], maps.items()):
        value = value.sum(0) if value.ndim == 3 else value
        panel = attribution_title(name, value)
        ax.set_title(panel, fontsize=8)
        if panel != name:   # nothing to draw: say so on the panel
            value = np.zeros_like(value)
            text = "no evidence\nfor the class" if panel.endswith("all zero") else "not drawn"
            ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center",
                    va="center", fontsize=7, color="tab:red", zorder=3)
        limit = float(np.abs(value).max()) or 1.0
        if value.ndim == 2:
            ax.imshow(image, cmap="gray")
            ax.imshow(value, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.6)
        else:   # a value per time step (sequence rows) or per feature
            ax.barh(np.arange(len(value)), value, color=np.where(value >= 0, "tab:red", "tab:blue"))
            ax.invert_yaxis()
        ax.set_xticks([])
        ax.set_yticks([])
    if image.ndim == 2:
        axes[0].imshow(image, cmap="gray")
    else:
        axes[0].plot(image)
    axes[0].set_title("input", fontsize=8)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    bars = axes[-1]
    colors = ["tab:red" if i == target else "tab:grey" for i in range(len(probabilities))]
    bars.barh(np.arange(len(probabilities)), probabilities, color=colors)
    bars.set_yticks(np.arange(len(probabilities)), class_names, fontsize=7)
    bars.invert_yaxis()
    bars.set_xlim(0, 1)
    bars.set_title("probabilities", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi=110)


def save_probe_curve(rows: list[dict], path: Path, title: str = "") -> Path:
    """Test error (%, mean +- std over draws) against the number of labels, per probe."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for key, name in (("linear_error", "linear"), ("knn20_error", "k-NN, k=20"),
                      ("knn200_error", "k-NN, k=200")):
        shown = [row for row in rows if row[key] is not None]   # k-NN needs more labels than k
        ax.errorbar([row["labels"] for row in shown], [row[key]["mean"] for row in shown],
                    yerr=[row[key]["std"] for row in shown], marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("labelled training samples")
    ax.set_ylabel("test error (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path, dpi=120)


def save_robustness_curve(result: dict, path: Path, title: str = "") -> Path:
    """Robust accuracy (%) against the attack's L-infinity radius, clean accuracy at eps 0."""
    plt = _pyplot()
    points = {0.0: result["clean_accuracy"], **{float(e): v for e, v in result["robust_accuracy"].items()}}
    radii, accuracy = list(points), list(points.values())   # an eps of 0 asked for: one point there
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(radii, accuracy, "o-", label=result["method"])
    ax.set_xlabel("eps (L-infinity, model input units)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or f"robust accuracy, {result['samples']} samples", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, dpi=110)
