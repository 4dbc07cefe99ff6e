"""The report's sections: each computes its numbers once and shows them twice.

The static report (:func:`convscope.report.build_report`) and the live explorer use the
same sections. Every section module has

* ``ID``, ``TITLE``: the page section's anchor and heading; ``STEP``: its progress name;
* ``METRICS``: the ``metrics.json`` keys its result fills;
* ``compute(...)``: a frozen result from exactly the arrays it needs, with ``to_json()``
  (JSON-safe numbers, NaN as ``null``), usable without any HTML;
* ``figures(result)``: ``{figure key: matplotlib Figure}``, render calls only;
* ``html(result, paths)``: the section's HTML, given ``{figure key: path or URL}``.

Example:
    >>> from convscope.report.sections import SECTIONS
    >>> [section.ID for section in SECTIONS]
    ['model', 'training', 'evaluation', 'feature-maps', 'kernels', 'similarity', 'classes', 'channels', 'atlas']
    >>> training.compute({"loss": [1.0, 0.5]}).to_json()["training"]["epochs"]
    2
"""

from __future__ import annotations

from . import (
    atlas,
    channels,
    evaluation,
    feature_maps,
    firing,
    kernels,
    model,
    similarity,
    training,
)

SECTIONS = (
    model,
    training,
    evaluation,
    feature_maps,
    kernels,
    similarity,
    firing,
    channels,
    atlas,
)
"""The sections in page order."""

__all__ = [
    "SECTIONS",
    "atlas",
    "channels",
    "evaluation",
    "feature_maps",
    "firing",
    "kernels",
    "model",
    "similarity",
    "training",
]
