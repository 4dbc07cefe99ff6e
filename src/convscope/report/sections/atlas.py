"""Channel atlas section: per channel, the data-set patches that activate it most.

The report's one data-set pass feeds a :class:`~convscope.metrics.topk.TopKAccumulator`
(the deepest conv layer by default); this section crops each exemplar to its receptive
field with the activation on top (:func:`convscope.analysis.atlas.atlas`) and shows the
channels in pages of 16, the first page open and the others folded. The live explorer's
channel view reads the same result through :meth:`AtlasResult.to_json`.

Example:
    >>> import numpy as np, convscope as cs
    >>> from convscope.analysis import scan
    >>> from convscope.metrics.topk import TopKAccumulator
    >>> model = cs.models.build("mnist_convnet")
    >>> x = np.random.default_rng(0).random((10, 1, 28, 28), dtype=np.float32)
    >>> (tops,) = scan(model, x, TopKAccumulator(3, layers=["conv2d_1"]))
    >>> result = compute(model, x, tops, split="test", max_channels=16)
    >>> sorted(figures(result)), result.to_json()["atlas"]["conv2d_1"]["k"]
    (['atlas_conv2d_1_p1'], 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._io import json_safe, safe_filename
from ...analysis.atlas import ChannelAtlas, atlas
from ...metrics.topk import TopKResult
from ...render.atlas import channel_atlas
from .. import html as H

ID, TITLE, STEP = "atlas", "Channel atlas", "atlas"
METRICS: tuple[str, ...] = ("atlas",)
"""``atlas``: per layer the exemplars of every channel shown (image, cell, value, box)."""
PER_PAGE = 16


@dataclass(frozen=True)
class AtlasResult:
    """Per layer its :class:`ChannelAtlas` (the first ``max_channels`` channels)."""

    atlases: dict[str, ChannelAtlas] = field(default_factory=dict)
    split: str = "test"

    def to_json(self) -> dict[str, Any]:
        """``{"atlas": {layer: exemplars per channel}}`` (``{}`` when not computed)."""
        return {"atlas": json_safe({n: a.to_json() for n, a in self.atlases.items()})}

    def pages(self, layer: str) -> list[slice]:
        """The rows of each page of ``layer``'s figure."""
        shown = len(self.atlases[layer].channels)
        return [slice(first, first + PER_PAGE) for first in range(0, shown, PER_PAGE)]


def compute(
    model: Any,
    x: np.ndarray,
    tops: Mapping[str, TopKResult] | None,
    *,
    split: str = "test",
    max_channels: int = 64,
) -> AtlasResult:
    """Crop the exemplars of the first ``max_channels`` channels of every layer in ``tops``.

    Args:
        model: the model the pass ran.
        x: the split's images (the exemplars' indices point into it).
        tops: the pass's top-k results, ``None`` when the pass kept none.
        split: the split's name, for the captions.
        max_channels: channels cropped and drawn per layer (the rest stay out of the page).
    """
    atlases = {}
    for name, top in (tops or {}).items():
        channels = range(min(max_channels, top.num_channels))
        atlases[name] = atlas(model, x, top, channels=channels)
    return AtlasResult(atlases, split)


def _key(layer: str, page: int) -> str:
    return f"atlas_{safe_filename(layer)}_p{page}"


def figures(result: AtlasResult) -> dict[str, Any]:
    """``atlas_<layer>_p<n>``: 16 channels a page, k exemplars a row."""
    out = {}
    for name, a in result.atlases.items():
        for page, rows in enumerate(result.pages(name), start=1):
            shown = a.channels[rows]
            out[_key(name, page)] = channel_atlas(
                a.patches[rows],
                a.overlays[rows],
                a.top.values[shown],
                channels=shown,
                title=f"{name}: channels {int(shown[0])}-{int(shown[-1])}, top "
                f"{a.top.values.shape[1]} of {a.top.num_images} {result.split} images each",
            )
    return out


def caption(a: ChannelAtlas, split: str) -> str:
    """What the atlas of one layer shows, from its numbers.

    Example:
        >>> caption(result.atlases["conv2d_1"], "test")  # doctest: +SKIP
        'conv2d_1: for each of 64 channels, the 9 patches of the 1000 test images ...'
    """
    top, f = a.top, a.field
    best = top.values[:, 0]
    strongest = int(np.argmax(best))
    silent = int((best <= 0).sum())
    where = "the whole image" if f.whole else f"its {f.size[0]}×{f.size[1]} px receptive field"
    text = (
        f"{a.layer}: for each of its {top.num_channels} channels, the {top.values.shape[1]} "
        f"places in the {top.num_images} {split} images where it answers most, each cropped "
        f"to {where}, tinted by the channel's activation (no tint: silent; bright yellow: "
        "its strongest). "
        f"Channel {strongest} answers strongest ({best[strongest]:.3g})"
    )
    if silent:
        text += f"; {silent} of {top.num_channels} channels never go above 0 (faded rows)"
    shown = len(a.channels)
    if shown < top.num_channels:
        text += f". Channels 0-{shown - 1} are drawn; metrics.json lists them"
    return text + "."


_TEMPLATE = """{% import "macros.html" as m %}
{% for layer in layers %}
<h3>{{ layer.name }}</h3>
{{ m.figure(layer.first) }}
{% if layer.rest %}
{% call m.fold(layer.more) %}{% for img in layer.rest %}{{ m.figure(img) }}{% endfor %}{% endcall %}
{% endif %}
{% else %}
{{ m.note("No channel atlas: the data-set pass kept no top-k exemplars.") }}
{% endfor %}
"""


def html(result: AtlasResult, paths: dict[str, str]) -> str:
    """Per layer the first page of channels, the other pages folded."""
    figs = paths if isinstance(paths, H.Figures) else H.Figures(paths)
    layers = []
    for name, a in result.atlases.items():
        images = []
        for page, rows in enumerate(result.pages(name), start=1):
            shown = a.channels[rows]
            best = a.top.values[shown, 0]
            alt = (
                f"{name} channels {int(shown[0])}-{int(shown[-1])}: best activations from "
                f"{float(best.min()):.3g} to {float(best.max()):.3g}"
            )
            images.append(
                figs.image(_key(name, page), caption(a, result.split) if page == 1 else "", alt)
            )
        more = f"channels {PER_PAGE}-{len(a.channels) - 1}: {len(images) - 1} more pages"
        layers.append({"name": name, "first": images[0], "rest": images[1:], "more": more})
    return str(H.render_string(_TEMPLATE, layers=layers))
