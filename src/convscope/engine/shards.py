"""Shards: what one worker scans, and how it loads the model and its images by itself.

A data set is cut into contiguous shards by image index. A worker gets a
:class:`ModelSpec` (a run folder or model file: loaded with
:func:`convscope.models.load`, safe formats only), a data source (a :class:`DataSpec` it
loads by name, or the driver's arrays), its :class:`Shard` and fresh copies of the
accumulators; :func:`scan_shard` runs the one streaming pass over that shard with the
image positions counted from the shard's start, and returns the fed accumulators.

Example:
    >>> [(s.start, s.stop) for s in plan_shards(10, 3)]
    [(0, 3), (3, 7), (7, 10)]
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis.scan import scan
from ..errors import ConvscopeError
from ..metrics.firing import FiringWarning
from ..metrics.stats import ChannelStats
from ..validation import check_int

__all__ = ["DataSpec", "ModelSpec", "Shard", "for_shard", "plan_shards", "scan_shard"]


@dataclass(frozen=True)
class Shard:
    """Images ``start`` up to ``stop`` (exclusive) of the data set; ``index`` among shards."""

    index: int
    start: int
    stop: int

    def __str__(self) -> str:
        return f"shard {self.index} (images {self.start}..{self.stop - 1})"


@dataclass(frozen=True)
class ModelSpec:
    """A model every worker loads itself: a run folder or a model file (never pickled).

    Raises:
        ConvscopeError: a zoo name (fresh random weights would differ between workers)
            or a path that does not exist.

    Example:
        >>> ModelSpec("no/such/run")
        Traceback (most recent call last):
        ...
        convscope.errors.ConvscopeError: the Ray engine loads the model in every worker from a run folder or model file; 'no/such/run' does not exist
    """

    path: str
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not Path(self.path).exists():
            raise ConvscopeError(
                "the Ray engine loads the model in every worker from a run folder or model "
                f"file; {self.path!r} does not exist"
            )
        object.__setattr__(self, "path", os.path.abspath(self.path))

    def load(self) -> Any:
        """The model, loaded with :func:`convscope.models.load` (no custom code)."""
        from ..models import load  # models load torch: only where a worker needs it

        model, _meta = load(self.path, device=self.device, trust=False)
        return model


@dataclass(frozen=True)
class DataSpec:
    """A split of a registered data set that every worker loads by name.

    Example:
        >>> DataSpec("mnist5k", "test").images(Shard(0, 0, 3))[0].shape
        (3, 1, 28, 28)
    """

    name: str
    split: str = "test"
    data_dir: str | None = None
    seed: int = 0
    input_shape: tuple[int, int, int] | None = None
    labels: bool = True

    def arrays(self) -> tuple[Any, Any]:
        """The whole split's ``(images, labels)``."""
        from ..data import load as load_data

        kwargs: dict[str, Any] = {"data_dir": self.data_dir, "seed": self.seed}
        if self.input_shape is not None:
            kwargs["input_shape"] = self.input_shape
        return load_data(self.name, **kwargs).split(self.split)

    def images(self, shard: Shard) -> tuple[Any, Any]:
        """``(images, labels)`` of one shard (labels ``None`` when not wanted)."""
        x, y = self.arrays()
        if shard.stop > len(x):
            raise ConvscopeError(
                f"{shard} is past the end of {self.name} {self.split} ({len(x)} images)"
            )
        return x[shard.start : shard.stop], (y[shard.start : shard.stop] if self.labels else None)


def plan_shards(total: int, count: int, align: int = 1) -> list[Shard]:
    """Cut ``total`` images into at most ``count`` contiguous shards of near-equal size.

    With ``align`` (the batch size), every cut falls on a multiple of it, so each shard's
    batches are exactly the batches of one pass over the whole data set: the model sees
    the same batches, and float32 maps come out bit for bit the same (a convolution's
    result can depend on the batch it runs in). Shards that would be empty are dropped.

    Raises:
        ConvscopeError: no images, or a count or alignment below 1.

    Example:
        >>> [(s.start, s.stop) for s in plan_shards(1000, 3, align=256)]
        [(0, 256), (256, 768), (768, 1000)]
    """
    total = check_int(total, "total", minimum=1)
    count = min(check_int(count, "shards", minimum=1), total)
    align = check_int(align, "align", minimum=1)
    cuts = sorted({round(i * total / count / align) * align for i in range(1, count)})
    cuts = [0, *[c for c in cuts if 0 < c < total], total]
    return [Shard(i, a, b) for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))]


def for_shard(acc: Any, shard: Shard) -> Any:
    """A fresh copy of ``acc`` for one shard, so that the merged shards equal one pass.

    Channel statistics average the similarity over the data set's first
    ``similarity_samples`` images; a shard's copy takes those of them it holds.

    Example:
        >>> for_shard(ChannelStats(similarity_samples=5), Shard(1, 3, 9)).similarity_samples
        2
    """
    mine = copy.deepcopy(acc)
    if isinstance(mine, ChannelStats) and mine.similarity_samples is not None:
        mine.similarity_samples = max(0, min(shard.stop, acc.similarity_samples) - shard.start)
    return mine


def scan_shard(
    model: Any,
    data: Any,
    shard: Shard,
    accumulators: Sequence[Any],
    *,
    batch_size: int = 256,
    device: Any = None,
) -> list[Any]:
    """Scan one shard into shard copies of ``accumulators``; return them fed.

    Args:
        model: a :class:`ModelSpec` (loaded here) or a model.
        data: a :class:`DataSpec` (loaded here) or the shard's ``(images, labels)``.
        shard: which images (positions in the whole data set).
        accumulators: templates; they are copied, not fed.
    """
    if isinstance(model, ModelSpec):
        model = model.load()
    x, y = data.images(shard) if isinstance(data, DataSpec) else data
    if len(x) != shard.stop - shard.start:
        raise ConvscopeError(f"{shard} got {len(x)} images")
    mine = [for_shard(acc, shard) for acc in accumulators]
    with warnings.catch_warnings():  # an empty class in one shard is no news: the driver's
        warnings.simplefilter("ignore", FiringWarning)  # result() warns for the whole
        scan(model, (x, y) if y is not None else x, *mine, batch_size=batch_size,
             device=device, offset=shard.start, results=False)  # fmt: skip
    return mine
