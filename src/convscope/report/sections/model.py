"""Model section: the architecture, its layers and parameters, and the data analysed.

Example:
    >>> import convscope as cs
    >>> model = cs.models.build("mnist_convnet")
    >>> result = compute(cs.layers(model), arch="mnist_convnet", input_shape=(1, 28, 28),
    ...                  data=DataSummary("mnist5k", "test", 10, ("0", "1")))
    >>> result.to_json()["model"]["params"]
    34826
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..._io import json_safe
from ...capturing import LayerInfo
from .. import html as H

ID, TITLE, STEP = "model", "Model", "model summary"
METRICS = ("model", "data")
"""The ``metrics.json`` keys this section fills."""


@dataclass(frozen=True)
class DataSummary:
    """What data the report looks at."""

    name: str
    split: str
    count: int
    class_names: tuple[str, ...]
    synthetic: bool = False


@dataclass(frozen=True)
class ModelResult:
    """The model's layers and size, and the data summary."""

    arch: str
    params: int
    input_shape: tuple[int | None, ...]
    layers: tuple[LayerInfo, ...]
    data: DataSummary

    def to_json(self) -> dict[str, Any]:
        """``{"model": ..., "data": ...}`` as in ``metrics.json``."""
        return json_safe(
            {
                "model": {
                    "arch": self.arch,
                    "params": self.params,
                    "input_shape": list(self.input_shape),
                    "layers": [
                        {
                            "name": i.name,
                            "kind": i.kind,
                            "output_shape": list(i.output_shape or []),
                            "params": int(i.params),
                        }
                        for i in self.layers
                    ],
                },
                "data": {
                    "name": self.data.name,
                    "split": self.data.split,
                    "count": self.data.count,
                    "class_names": list(self.data.class_names),
                    "synthetic": self.data.synthetic,
                },
            }
        )


def compute(
    infos: Sequence[LayerInfo], *, arch: str, input_shape: Sequence[int | None], data: DataSummary
) -> ModelResult:
    """Count the parameters (blocks count their children again: left out) and keep the layers."""
    return ModelResult(
        arch=str(arch),
        params=int(sum(i.params for i in infos if i.kind != "block")),
        input_shape=tuple(input_shape),
        layers=tuple(infos),
        data=data,
    )


def figures(result: ModelResult) -> dict[str, Any]:
    """No figures: the section is a table."""
    return {}


def html(result: ModelResult, paths: dict[str, str]) -> str:
    """Key numbers, the layer table and a note on the data."""
    rows = [
        (
            k,
            i.name,
            i.type or i.kind,
            i.kind,
            "×".join(map(str, i.output_shape or ())) or "?",
            f"{i.params:,}",
        )
        for k, i in enumerate(result.layers)
    ]
    data = result.data
    kpis = [
        ("architecture", result.arch),
        ("parameters", f"{result.params:,}"),
        ("layers", len(result.layers)),
        ("classes", len(data.class_names)),
    ]
    note = (
        f"Data: {data.name}"
        + (" (synthetic)" if data.synthetic else "")
        + f" · {data.split} split, {data.count} images · classes: {', '.join(data.class_names)}"
    )
    return H.render("sections/model.html", kpis=kpis, rows=rows, note=note)
