"""Training curves: accuracy/loss history (seeds 001, 002) and similarity against val_loss (seed 000)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError
from ..history_keys import mean_key, tracked_layers
from . import _fig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

_ALIASES = {"accuracy": ("accuracy", "acc"), "val_accuracy": ("val_accuracy", "val_acc")}


def _as_history(history: Any) -> Mapping[str, Any]:
    """Accept a dict of lists or an object with a ``.history`` dict (Keras ``History``)."""
    h = getattr(history, "history", history)
    if not isinstance(h, Mapping):
        raise ConvscopeError(
            f"history: expected a dict of per-epoch lists, got {type(history).__name__}"
        )
    return h


def _series(h: Mapping[str, Any], key: str) -> np.ndarray | None:
    for k in _ALIASES.get(key, (key,)):
        if k in h and h[k] is not None:
            vals = h[k]
            arr = np.array(
                [
                    np.nan if v is None else float(v)
                    for v in np.atleast_1d(np.asarray(vals, dtype=object))
                ],
                dtype=np.float64,
            )
            return arr if arr.size else None
    return None


def _epochs(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def history(history: Any, title: str | None = None) -> Figure:
    """Accuracy and loss per epoch, train against validation (seeds 001 and 002).

    Args:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}``
            (``acc``/``val_acc`` work too; missing keys are skipped) or a Keras ``History``.

    Raises:
        ConvscopeError: none of those keys is present (the message lists the keys).

    Example:
        >>> fig = history({"loss": [0.7, 0.4, 0.3], "val_loss": [0.6, 0.45, 0.4],
        ...                "accuracy": [0.75, 0.85, 0.9], "val_accuracy": [0.78, 0.84, 0.88]})
        >>> [ax.get_title() for ax in fig.axes]
        ['accuracy', 'loss']
    """
    h = _as_history(history)
    panels = []
    for metric in ("accuracy", "loss"):
        train, val = _series(h, metric), _series(h, f"val_{metric}")
        if train is not None or val is not None:
            panels.append((metric, train, val))
    if not panels:
        raise ConvscopeError(
            "history has no loss/accuracy series (expected loss, accuracy, val_loss, "
            f"val_accuracy); keys: {', '.join(map(str, h)) or '(none)'}"
        )
    fig = _fig.new_figure(5.0 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, train, val) in zip(axes, panels, strict=False):
        for arr, label, style in ((train, "train", "-"), (val, "validation", "--")):
            if arr is not None:
                ax.plot(_epochs(len(arr)), arr, style, marker="o", markersize=3, label=label)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.set_layout_engine("tight")
    return fig


def _similarity_key(h: Mapping[str, Any], key: str | None) -> str:
    if key is not None:
        if key not in h:
            raise ConvscopeError(
                f"history has no key {key!r}; keys: {', '.join(map(str, h)) or '(none)'}"
            )
        return key
    layers = tracked_layers(h)
    if layers:  # the deepest tracked layer: seed 000's number
        return mean_key(layers[-1])
    if "similarity" in h:
        return "similarity"
    raise ConvscopeError(
        "history has no similarity series (expected 'similarity/<layer>' or 'similarity', "
        "logged by the similarity callback); keys: " + (", ".join(map(str, h)) or "(none)")
    )


def similarity_vs_loss(
    history: Any, key: str | Sequence[str] | None = None, loss_key: str = "val_loss"
) -> Figure:
    """Seed 000's chart: mean feature-map similarity per epoch against the validation loss.

    Similarity uses the left axis, the loss a twin right axis (their scales differ). A
    ``<key>/std`` series, when logged, is drawn as a band around the mean.

    Args:
        history: dict of per-epoch lists (or Keras ``History``).
        key: similarity key(s); default the deepest tracked layer's ``similarity/<layer>``
            (the layer seed 000 tracks), else ``similarity``.
        loss_key: the loss to compare against (falls back to ``loss`` when missing).

    Raises:
        ConvscopeError: no similarity key (the message lists the keys there are).

    Example:
        >>> fig = similarity_vs_loss({"similarity/conv2d_1": [0.5, 0.4, 0.35],
        ...                           "similarity/conv2d_1/std": [0.1, 0.08, 0.07],
        ...                           "val_loss": [0.3, 0.2, 0.25]})
        >>> fig.axes[0].get_ylabel()
        'mean similarity'
    """
    h = _as_history(history)
    keys = [key] if key is None or isinstance(key, str) else list(key)
    keys = [_similarity_key(h, k) for k in keys]
    fig = _fig.new_figure(7.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    colors = ["C0", "C2", "C4", "C5", "C6", "C8", "C9"]
    handles = []
    for i, k in enumerate(keys):
        sim = _series(h, k)
        if sim is None:
            raise ConvscopeError(f"history[{k!r}] is empty")
        color = colors[i % len(colors)]
        x = _epochs(len(sim))
        (line,) = ax.plot(x, sim, "-", marker="o", markersize=3, color=color, label=k)
        handles.append(line)
        std = _series(h, f"{k}/std")
        if std is not None and len(std) == len(sim):
            band = ax.fill_between(
                x, sim - std, sim + std, color=color, alpha=0.2, label=f"{k} ± std"
            )
            handles.append(band)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean similarity")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    lk = loss_key if loss_key in h else ("loss" if "loss" in h else None)
    if lk is not None and _series(h, lk) is not None:
        loss = _series(h, lk)
        ax2 = ax.twinx()
        (l2,) = ax2.plot(
            _epochs(len(loss)), loss, "--", marker="s", markersize=3, color="C3", label=lk
        )
        ax2.set_ylabel(lk, color="C3")
        ax2.tick_params(axis="y", colors="C3")
        handles.append(l2)
        ax.set_title(f"feature-map similarity vs {lk}")
    else:
        ax.set_title("feature-map similarity (no loss logged)")
    ax.legend(
        handles=handles, labels=[hd.get_label() for hd in handles], loc="upper center", fontsize=9
    )
    fig.set_layout_engine("tight")
    return fig
