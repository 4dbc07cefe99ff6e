"""The names of a training history's similarity series, read in one place.

The similarity tracker logs, per tracked layer, ``similarity/<layer>`` (mean over the probe
images), ``similarity/<layer>/std`` (its spread) and ``similarity/<layer>/excluded`` (dead
and constant channels left out), plus ``similarity``: the deepest tracked layer's mean,
seed 000's number. Figures and report sections find the series through these helpers.

Example:
    >>> h = {"loss": [1.0], "similarity": [0.2], "similarity/conv2d": [0.3],
    ...      "similarity/conv2d/std": [0.0], "similarity/conv2d_1": [0.2],
    ...      "similarity/conv2d_1/excluded": [0.0]}
    >>> tracked_layers(h)
    ['conv2d', 'conv2d_1']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "similarity/"
SUFFIXES = ("/std", "/excluded")


def tracked_layers(history: Mapping[str, Any]) -> list[str]:
    """The tracked layers, in the order they were logged (model order: deepest last)."""
    return [
        str(k)[len(PREFIX) :]
        for k in history
        if str(k).startswith(PREFIX) and not str(k).endswith(SUFFIXES)
    ]


def mean_key(layer: str) -> str:
    """``similarity/<layer>``: the layer's mean similarity per epoch."""
    return PREFIX + layer


def std_key(layer: str) -> str:
    """``similarity/<layer>/std``: its spread over the probe images."""
    return PREFIX + layer + "/std"


def excluded_key(layer: str) -> str:
    """``similarity/<layer>/excluded``: dead and constant channels left out, per epoch."""
    return PREFIX + layer + "/excluded"
