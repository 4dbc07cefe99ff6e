"""What a report writes: the stable ``metrics.json`` keys and the :class:`Report` record.

Example:
    >>> sorted(METRICS_KEYS)[:3]
    ['atlas', 'channels', 'convscope_version']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["METRICS_KEYS", "Report"]

METRICS_KEYS = {
    "convscope_version": "version of convscope that wrote the report",
    "created": "UTC time the report was written (ISO 8601)",
    "model": "arch, params, input_shape, layers [{name, kind, output_shape, params}]",
    "data": "name, split, count, class_names, synthetic",
    "training": "history {key: [per epoch]} and epochs, or null without a run; trends {layer: {first, last, change, spearman_loss, loss_key, excluded_last}}; epoch_maps {layer, epochs, similarity, shape} or null (the tracker's probe maps across epochs, drawn beside the chart)",
    "evaluation": "loss, accuracy, per_class_accuracy {class: acc}, confusion [[counts]]",
    "probes": "indices into the split, labels, predictions",
    "similarity": "metric, images, layers {name: {mean, std, per_image, channels, compared, excluded, dead, constant, most {i, j, value, rank, pairs}, least {i, j, value, rank, pairs}, groups, threshold, distinct_maps, effective_rank}}; dead (never firing) and constant channels are left out of mean, std, per_image, pairs, groups, distinct_maps and effective_rank and listed in excluded",
    "firing": "layer, threshold, reduce, class_names, rates [[K x U]], counts, distance [[K x K]], nearest {class: [[other, distance]]}",
    "channels": "{layer: {dead [indices], fire_fraction [per channel], mean_activation [per channel], mean_similarity}}",
    "atlas": "{layer: {layer, k, num_images, field {size, jump, start, image_shape, whole}, channels: [{channel, slot, exemplars: [{image, row, col, value, box}]}]}}: the data-set images that activate each channel of the deepest conv layer most (top-k over the split, cropped to the receptive field)",
    "figures": "{figure key: path relative to index.html} (line charts .svg, the rest .png)",
    "nonfinite": "{layer (or 'output'): {values, images, of}}: the layers with NaN/Inf activations in the pass (empty when every value is finite); the page names them in a banner, their similarity is not computable",
}


@dataclass
class Report:
    """What :func:`build_report` wrote: the page, the metrics file and the numbers."""

    out: Path
    index: Path
    metrics_path: Path
    metrics: dict[str, Any]
    figures: dict[str, str] = field(default_factory=dict)
