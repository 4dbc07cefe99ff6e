"""Training curves: accuracy/loss history (seeds 001, 002) and similarity against val_loss (seed 000)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConvscopeError
from ..history_keys import PREFIX, excluded_key, mean_key, std_key, tracked_layers
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
        for arr, label, style, color in (
            (train, "train", "-", _fig.OKABE_ITO[0]),
            (val, "validation", "--", _fig.OKABE_ITO[1]),
        ):
            if arr is not None:
                ax.plot(
                    _epochs(len(arr)),
                    arr,
                    style,
                    marker="o",
                    markersize=3,
                    label=label,
                    color=color,
                )
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    if title:
        fig.suptitle(title)
    # a fixed layout: the figure is drawn once when saved (a layout engine measures it first)
    fig.subplots_adjust(left=0.7 / fig.get_figwidth(), right=0.98, bottom=0.13,
                        top=0.86 if title else 0.91, wspace=0.22)  # fmt: skip
    return fig


MINUS = "\u2212"
FLAT = 0.02
"""A relative change under 2 % over the run is reported as flat."""


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation of two series (epochs where either is NaN dropped).

    ``None`` with fewer than three common epochs or a constant series.

    Example:
        >>> spearman([0.3, 0.2, 0.1], [1.0, 0.8, 0.5])
        1.0
        >>> spearman([0.1, 0.2, 0.3], [1.0, 0.8, 0.5])
        -1.0
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3:
        return None

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # ties share their mean rank
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass(frozen=True)
class Trend:
    """How one similarity series moved over a run, and how it went with the loss.

    Attributes:
        key: the history key (``similarity/conv2d_1``); ``layer`` its layer's name.
        first, last: the first and last finite values; ``epochs`` the series' length.
        change: ``(last - first) / |first|`` (NaN when ``first`` is 0).
        rho: Spearman's rank correlation with ``loss_key`` (``None`` without a loss or
            with fewer than three epochs): near 1 means similarity fell as the loss fell.
        loss_change: the loss's relative change over the same epochs (NaN without).
        excluded: dead and flat channels left out at the last epoch, if logged.
    """

    key: str
    layer: str
    first: float
    last: float
    epochs: int
    change: float
    rho: float | None
    loss_key: str | None
    loss_change: float
    excluded: float | None

    @property
    def direction(self) -> str:
        """``falls``, ``rises`` or ``stays flat``."""
        if not math.isfinite(self.change) or abs(self.change) < FLAT:
            return "stays flat"
        return "falls" if self.change < 0 else "rises"

    def short(self) -> str:
        """``conv2d_1: −64 % over 12 epochs, Spearman ρ with val_loss 0.98``."""
        pct = "n/a" if not math.isfinite(self.change) else _signed(f"{self.change * 100:+.0f} %")
        text = f"{self.layer}: {pct} over {self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        if self.rho is not None:
            text += f", Spearman ρ with {self.loss_key} {_signed(f'{self.rho:.2f}')}"
        return text

    def sentence(self) -> str:
        """A sentence a caption can use: what the series did, in numbers."""
        text = (
            f"{self.layer}'s mean similarity {self.direction} "
            f"({self.first:.3f} → {self.last:.3f}"
            + ("" if not math.isfinite(self.change) else _signed(f", {self.change * 100:+.0f} %"))
            + f" over {self.epochs} epochs)"
        )
        if self.loss_key is not None and math.isfinite(self.loss_change):
            loss_dir = (
                "fell"
                if self.loss_change < -FLAT
                else "rose"
                if self.loss_change > FLAT
                else "stayed flat"
            )
            text += f" while {self.loss_key} {loss_dir}"
        if self.rho is not None:
            text += f"; Spearman ρ with {self.loss_key} {_signed(f'{self.rho:.2f}')}"
        if self.excluded:
            text += f"; {int(self.excluded)} dead/flat channel{'s' if self.excluded != 1 else ''} left out"
        return text


def _series_keys(h: Mapping[str, Any], key: str | Sequence[str] | None) -> list[str]:
    """The similarity keys a chart shows: the deepest tracked layer by default, ``"all"``
    for every tracked layer (model order), or the keys given."""
    if key == "all":
        layers = tracked_layers(h)
        if layers:
            return [mean_key(layer) for layer in layers]
        key = None
    keys = [key] if key is None or isinstance(key, str) else list(key)
    return [_similarity_key(h, k) for k in keys]


def _finite_ends(values: np.ndarray) -> tuple[float, float]:
    good = values[np.isfinite(values)]
    return (float(good[0]), float(good[-1])) if good.size else (math.nan, math.nan)


def _relative(first: float, last: float) -> float:
    return (
        (last - first) / abs(first)
        if first and math.isfinite(first) and math.isfinite(last)
        else math.nan
    )


def _loss_key(h: Mapping[str, Any], loss_key: str) -> str | None:
    lk = loss_key if loss_key in h else ("loss" if "loss" in h else None)
    return lk if lk is not None and _series(h, lk) is not None else None


def similarity_trends(
    history: Any, key: str | Sequence[str] | None = "all", loss_key: str = "val_loss"
) -> list[Trend]:
    """The trend of each similarity series of a history, in numbers (what a caption says).

    Args:
        history: dict of per-epoch lists (or Keras ``History``).
        key: ``"all"`` (default: every tracked layer, deepest last), ``None`` (the deepest
            tracked layer), one key or a list of keys.
        loss_key: the loss to correlate with (falls back to ``loss``).

    Raises:
        ConvscopeError: no similarity series (the message lists the keys there are).

    Example:
        >>> h = {"similarity/conv2d_1": [0.30, 0.20, 0.12], "val_loss": [0.5, 0.3, 0.2]}
        >>> similarity_trends(h)[0].short()
        'conv2d_1: −60 % over 3 epochs, Spearman ρ with val_loss 1.00'
    """
    h = _as_history(history)
    lk = _loss_key(h, loss_key)
    loss = _series(h, lk) if lk is not None else None
    out = []
    for k in _series_keys(h, key):
        values = _series(h, k)
        if values is None:
            raise ConvscopeError(f"history[{k!r}] is empty")
        first, last = _finite_ends(values)
        layer = k[len(PREFIX) :] if k.startswith(PREFIX) else k
        excluded = _series(h, excluded_key(layer)) if k.startswith(PREFIX) else None
        loss_change = math.nan
        if loss is not None:
            loss_change = _relative(*_finite_ends(loss[: len(values)]))
        out.append(
            Trend(k, layer, first, last, len(values), _relative(first, last),
                  None if loss is None else spearman(values, loss), lk, loss_change,
                  None if excluded is None or not np.isfinite(excluded[-1]) else float(excluded[-1]))
        )  # fmt: skip
    return out


def similarity_caption(
    history: Any, key: str | Sequence[str] | None = "all", loss_key: str = "val_loss"
) -> str:
    """What this run's similarity chart shows, in words and numbers (never a fixed claim).

    The deepest tracked layer (seed 000's number) comes first.

    Example:
        >>> h = {"similarity/conv2d": [0.14, 0.17], "similarity/conv2d_1": [0.2, 0.3],
        ...      "val_loss": [0.5, 0.3]}
        >>> similarity_caption(h)
        "conv2d_1's mean similarity rises (0.200 → 0.300, +50 % over 2 epochs) while val_loss fell. Other layers: conv2d: +21 % over 2 epochs."
    """
    trends = similarity_trends(history, key, loss_key)
    deepest, others = trends[-1], trends[:-1]
    text = deepest.sentence() + "."
    if others:
        text += " Other layers: " + "; ".join(t.short() for t in reversed(others)) + "."
    return text


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


def _plot_series(
    ax: Any, h: Mapping[str, Any], trend: Trend, color: str, band_label: bool
) -> list[Any]:
    """The series' line (and its ± std band; only the first band gets a legend entry)."""
    sim = _series(h, trend.key)
    x = _epochs(len(sim))
    (line,) = ax.plot(x, sim, "-", marker="o", markersize=3, color=color, label=trend.short())
    handles = [line]
    std = (
        _series(h, std_key(trend.layer))
        if trend.key.startswith(PREFIX)
        else _series(h, f"{trend.key}/std")
    )
    if std is not None and len(std) == len(sim):
        label = "shaded: ± std over the probe images"
        band = ax.fill_between(x, sim - std, sim + std, color=color, alpha=0.18, label=label)
        if band_label:
            handles.append(band)
    return handles


def similarity_vs_loss(
    history: Any, key: str | Sequence[str] | None = None, loss_key: str = "val_loss"
) -> Figure:
    """Seed 000's chart: mean feature-map similarity per epoch against the validation loss.

    Similarity uses the left axis, the loss a twin right axis (their scales differ). A
    ``<key>/std`` series, when logged, is drawn as a band around the mean. Each line's
    legend gives its change over the run and its Spearman correlation with the loss, and
    the title says what the deepest shown layer did, from the numbers (never a fixed claim).

    Args:
        history: dict of per-epoch lists (or Keras ``History``).
        key: which similarity series. Default ``None``: the deepest tracked layer's
            ``similarity/<layer>`` (the layer seed 000 tracks: its CNN's last conv layer),
            else ``similarity``. ``"all"``: every tracked layer, each with its own trend;
            or a key or list of keys.
        loss_key: the loss to compare against (falls back to ``loss`` when missing).

    Raises:
        ConvscopeError: no similarity key (the message lists the keys there are).

    Example:
        >>> fig = similarity_vs_loss({"similarity/conv2d_1": [0.5, 0.4, 0.35],
        ...                           "similarity/conv2d_1/std": [0.1, 0.08, 0.07],
        ...                           "val_loss": [0.3, 0.2, 0.25]})
        >>> fig.axes[0].get_ylabel(), fig.axes[0].get_title()
        ('mean similarity', 'conv2d_1 similarity falls 30 % over 3 epochs')
    """
    h = _as_history(history)
    trends = similarity_trends(h, key if key is not None else None, loss_key)
    fig = _fig.new_figure(7.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    colors = [c for c in _fig.OKABE_ITO if c != "#000000"]
    handles: list[Any] = []
    for i, trend in enumerate(trends):
        handles += _plot_series(ax, h, trend, colors[i % len(colors)], len(handles) < 2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean similarity")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    lk = trends[-1].loss_key
    if lk is not None:
        loss = _series(h, lk)
        ax2 = ax.twinx()
        (l2,) = ax2.plot(
            _epochs(len(loss)), loss, "--", marker="s", markersize=3, color="black", label=lk
        )
        ax2.set_ylabel(lk)
        handles.append(l2)
    head = trends[-1]
    pct = "" if head.direction == "stays flat" else f" {abs(head.change) * 100:.0f} %"
    ax.set_title(
        f"{head.layer} similarity {head.direction}{pct} over {head.epochs} epochs", fontsize=11
    )
    ax.legend(handles=handles, labels=[hd.get_label() for hd in handles], loc="best", fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.88, bottom=0.12, top=0.92)  # drawn once when saved
    return fig
