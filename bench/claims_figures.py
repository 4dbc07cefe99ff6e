"""The figures of ``bench/claims.py`` (PNG files beside the page, under ``claims/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from convscope.render import OKABE_ITO  # noqa: E402

# the Okabe-Ito palette, as convscope's own figures: readable with every colour vision
COLORS = {"multiply": OKABE_ITO[1], "cosine": OKABE_ITO[4], "pearson": OKABE_ITO[2]}
CRITERION_COLORS = [OKABE_ITO[i] for i in (1, 5, 4, 3, 7)]
GROUP = ("horse", "zebra", "cow", "giraffe")


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _err(ci: tuple) -> tuple[float, list[list[float]]]:
    mean, low, high, _ = ci
    if not np.isfinite(low):
        return mean, [[0.0], [0.0]]
    return mean, [[mean - low], [high - mean]]


def rho_figure(s000: dict, path: Path) -> Path:
    """Spearman rho(similarity, val_loss) per layer and metric, 95 % interval, per config."""
    keys = sorted(s000)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.6), sharey=True)
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        rows = s000[key]
        layers = list(dict.fromkeys(r["layer"] for r in rows))
        for r in rows:
            x = layers.index(r["layer"]) + (list(COLORS).index(r["metric"]) - 1) * 0.22
            mean, err = _err(r["rho_loss"])
            ax.errorbar([x], [mean], yerr=err, fmt="o", color=COLORS[r["metric"]], capsize=3,
                        label=r["metric"] if r["layer"] == layers[0] else None)  # fmt: skip
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(layers)), layers, rotation=30)
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(f"{key[0]}\non {key[1]}", fontsize=9)
    np.atleast_1d(axes)[0].set_ylabel(
        "Spearman rho(similarity, val_loss)\nabove 0: falls with val_loss"
    )
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Seed 000: does similarity fall as val_loss falls? (mean, 95 % interval over "
                 "seeds)", fontsize=10, y=1.04)  # fmt: skip
    return _save(fig, path)


def curves_figure(s000: dict, groups: dict, path: Path) -> Path:
    """Multiply similarity per layer over epochs (mean and seed range) with val_loss."""
    keys = sorted(s000)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.3))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        for k, r in enumerate(x for x in s000[key] if x["metric"] == "multiply"):
            curves = np.asarray(r["curves"], float)
            epochs = np.arange(1, curves.shape[1] + 1)
            color = OKABE_ITO[(k + 1) % len(OKABE_ITO)]
            ax.plot(epochs, curves.mean(0), color=color, label=r["layer"])
            ax.fill_between(epochs, curves.min(0), curves.max(0), color=color, alpha=0.2)
        twin = ax.twinx()
        loss = np.asarray([g["history"]["val_loss"] for g in groups[key]], float)
        twin.plot(epochs, loss.mean(0), color="black", ls="--", label="val_loss")
        twin.tick_params(labelsize=7)
        ax.set_xlabel("epoch")
        ax.set_title(f"{key[0]} on {key[1]}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    np.atleast_1d(axes)[0].set_ylabel("mean similarity (multiply)")
    fig.suptitle("Similarity per layer over training (line: mean over seeds, band: seed range; "
                 "dashed: val_loss, right axis)", fontsize=10)  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def distance_figure(s001: dict, path: Path) -> Path:
    """Mean class-distance matrices (firing profiles, L1), the animal group marked."""
    keys = sorted(s001)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.8 * len(keys), 3.8))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        res = s001[key]
        ax.imshow(res["mean"], cmap="viridis")
        names = res["names"]
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
            if label.get_text() in GROUP:
                label.set_color(OKABE_ITO[5])
                label.set_fontweight("bold")
        ax.set_title(f"{key[0]} on {key[1]}", fontsize=9)
    fig.suptitle("Seed 001: class distance by firing profile (mean over seeds; dark = near; "
                 "red: horse, zebra, cow, giraffe)", fontsize=10)  # fmt: skip
    return _save(fig, path)


def prune_figure(table: dict, path: Path) -> Path:
    """Accuracy drop against the share of channels removed, per criterion."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, which, title in zip(
        axes, ("drop", "tuned"), ("right after pruning", "after fine-tuning"), strict=True
    ):
        for k, crit in enumerate(table["criteria"]):
            xs = [100 * f + (k - 2) * 0.8 for f in table["fractions"]]
            means = [table[which][crit, f][0] for f in table["fractions"]]
            errs = np.array([_err(table[which][crit, f])[1] for f in table["fractions"]])[:, :, 0].T
            ax.errorbar(xs, means, yerr=errs, marker="o", capsize=3, label=crit,
                        color=CRITERION_COLORS[k % len(CRITERION_COLORS)])  # fmt: skip
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("channels removed (%)")
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("test accuracy drop (points)\nvs the unpruned model")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Pruning conv2d_1 of mnist_convnet on mnist5k ({table['seeds']} seeds, "
                 "mean and 95 % interval)", fontsize=10, y=1.02)  # fmt: skip
    return _save(fig, path)


def penalty_figure(rows: list[dict], path: Path) -> Path:
    """Per seed: test accuracy and final similarity, plain vs penalised."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    labels = ["plain", *[r["label"].replace(" on ", "\non ") for r in rows]]
    for k, row in enumerate(rows):
        for plain_acc, pen_acc, plain_final, pen_final in row["pairs"]:
            off = (k - (len(rows) - 1) / 2) * 0.05
            axes[0].plot([0, k + 1], [100 * plain_acc, 100 * pen_acc], "o-", color=OKABE_ITO[(k + 1) % len(OKABE_ITO)],
                         alpha=0.6)  # fmt: skip
            for ax, metric in zip(axes[1:], ("multiply", "cosine"), strict=True):
                layer = list(plain_final)[-1]
                ax.plot([0 + off, k + 1], [plain_final[layer][metric], pen_final[layer][metric]],
                        "o-", color=OKABE_ITO[(k + 1) % len(OKABE_ITO)], alpha=0.6)  # fmt: skip
    for ax, title in zip(axes, ("test accuracy (%)", "final similarity, multiply",
                                "final similarity, cosine"), strict=True):  # fmt: skip
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(title, fontsize=10)
    layer = list(rows[0]["pairs"][0][2])[-1] if rows and rows[0]["pairs"] else "?"
    fig.suptitle(f"Seed 000's closing idea: similarity penalty vs plain training (one line per "
                 f"seed; similarity of {layer} on test images)", fontsize=10, y=1.03)  # fmt: skip
    return _save(fig, path)


def draw_all(folder: Path, s000: dict, s001: dict, prune: dict, penalty: list,
             groups: dict) -> dict[str, Path]:  # fmt: skip
    """Every figure; returns {name: path}."""
    paths = {
        "rho": rho_figure(s000, folder / "seed000_rho.png"),
        "curves": curves_figure(s000, groups, folder / "seed000_curves.png"),
        "distances": distance_figure(s001, folder / "seed001_distances.png"),
    }
    if prune:
        paths["prune"] = prune_figure(prune, folder / "pruning.png")
    if penalty:
        paths["penalty"] = penalty_figure(penalty, folder / "penalty.png")
    return paths
