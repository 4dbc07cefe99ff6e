"""Seed 000's closing idea as a loss term: penalise similar feature maps while training.

Seed 000 ends: "it should be possible to improve a CNN by measuring feature map
similarity and providing feedback via the loss function". :class:`SimilarityPenalty`
does that: ``fit(model, data, penalty=SimilarityPenalty(layers="conv", weight=0.1))``
adds ``weight x`` (mean pair similarity of the chosen layers' maps in the training batch)
to the cross-entropy. The similarity must be differentiable, so each metric has a
surrogate here:

``cosine`` / ``pearson``
    exactly the metrics of :mod:`convscope.metrics.similarity` (already smooth).
``multiply``
    seed 000's count of cells whose product is above the product's mean is a step
    function (zero gradient almost everywhere); the surrogate counts with a sigmoid
    instead, whose width is ``temperature`` times the pair's mean product (a width fixed
    in absolute terms would count the many zero cells of sparse ReLU maps as half above
    a small mean), and tends to the exact metric as ``temperature`` goes to 0.

Pairs with a map that is flat on that image (dead, or one value everywhere) are left out
of the mean, as convscope's similarity means leave dead and constant channels out:
otherwise silencing a channel would lower the penalty.

Example:
    >>> import torch
    >>> maps = torch.rand(2, 4, 5, 5, requires_grad=True)
    >>> value = soft_similarity(maps, "cosine")
    >>> value.backward()
    >>> bool(maps.grad.abs().sum() > 0)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..adapters import adapter_for, resolve_layers
from ..errors import ConvscopeError, UnknownNameError
from ..validation import check_int, check_real
from .callbacks import Callback

__all__ = ["PENALTY_METRICS", "SimilarityPenalty", "soft_similarity"]

PENALTY_METRICS = ("cosine", "pearson", "multiply")
"""The metrics :class:`SimilarityPenalty` has a differentiable surrogate for."""

_FLAT = 1e-12  # a map whose range (norm) is at most this is flat: no pair of it counts


def _pair_mean(values: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (N, C, C) over pairs i < j whose two maps are both live."""
    c = values.shape[1]
    upper = torch.triu(torch.ones(c, c, dtype=torch.bool, device=values.device), diagonal=1)
    mask = upper & live[:, :, None] & live[:, None, :]
    count = mask.sum()
    if int(count) == 0:
        return values.sum() * 0.0  # no live pair: nothing to penalise, still in the graph
    return (values * mask).sum() / count


def _soft_multiply(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """Seed 000's multiply metric with a sigmoid for its step, over the pairs i < j only."""
    low = x.amin(dim=-1, keepdim=True)
    span = x.amax(dim=-1, keepdim=True) - low
    live = span[..., 0] > _FLAT
    norm = (x - low) * torch.where(live[..., None], span, torch.full_like(span, 1e-4)).reciprocal()
    first, second = torch.triu_indices(x.shape[1], x.shape[1], offset=1, device=x.device)
    product = norm[:, first] * norm[:, second]  # (N, pairs, L): no C x C x L tensor
    mean = product.mean(dim=-1, keepdim=True)
    width = temperature * mean + 1e-12  # relative to the pair's mean product
    above = torch.sigmoid((product - mean) / width) * (mean > 0)  # all-zero product: 0, exact
    mask = live[:, first] & live[:, second]
    count = mask.sum()
    if int(count) == 0:
        return above.sum() * 0.0
    return (above.mean(dim=-1) * mask).sum() / count


def soft_similarity(
    maps: torch.Tensor, metric: str = "cosine", temperature: float = 0.1
) -> torch.Tensor:
    """Differentiable mean pair similarity of ``(N, C, H, W)`` maps (or ``(N, C, L)``).

    Each image's ``C x C`` matrix is computed and the mean is over images and pairs
    ``i < j`` whose maps are both not flat on that image.

    Args:
        maps: a batch of feature maps, with gradients.
        metric: ``"cosine"``, ``"pearson"`` or ``"multiply"`` (soft count; see module).
        temperature: width of the sigmoid standing in for the step of ``multiply``,
            relative to each pair's mean product.

    Raises:
        UnknownNameError: another metric.

    Example:
        >>> maps = torch.rand(3, 6, 4, 4)
        >>> from convscope.metrics.similarity import mean_similarity
        >>> exact = mean_similarity(maps.numpy(), "cosine")
        >>> abs(float(soft_similarity(maps, "cosine")) - exact) < 1e-5
        True
    """
    if metric not in PENALTY_METRICS:
        raise UnknownNameError("penalty metric", [str(metric)], PENALTY_METRICS)
    x = maps.flatten(2) if maps.ndim == 4 else maps
    if x.ndim != 3:
        raise ConvscopeError(
            f"the penalty needs (N, C, H, W) feature maps, got {tuple(maps.shape)}"
        )
    if metric == "multiply":
        return _soft_multiply(x, temperature)
    live = (x.amax(dim=-1) - x.amin(dim=-1)) > _FLAT  # flat on this image: left out
    if metric == "pearson":
        x = x - x.mean(dim=-1, keepdim=True)
    unit = x / x.norm(dim=-1).clamp_min(_FLAT)[..., None]
    return _pair_mean(unit @ unit.transpose(1, 2), live)


class SimilarityPenalty(Callback):
    """A loss term: ``weight x`` mean channel similarity of chosen layers, per training batch.

    Pass it to :func:`convscope.train.fit` as ``penalty=``. It hooks the chosen layers
    when training begins, keeps their maps of each training forward pass (train mode,
    gradients on: never the validation or tracker passes), and ``penalty()`` returns the
    term for the last batch. Every epoch it logs ``penalty`` (the mean weighted term) and
    ``penalty/<layer>`` (each layer's mean surrogate similarity).

    Args:
        layers: layers to penalise (names, indices, kinds such as ``"conv"``, globs).
        metric: ``"cosine"`` (default), ``"pearson"`` or ``"multiply"`` (soft).
        weight: the term's weight (added to a cross-entropy of order 0.1 to 2).
        images: compute the term on the first ``images`` of each batch (``multiply``
            compares every cell of every pair: ``N x C x C x H x W`` numbers); None: all.
        temperature: ``multiply`` only, see :func:`soft_similarity`.

    Example:
        >>> import numpy as np, torch, convscope as cs
        >>> from convscope.train.inputs import TrainingData
        >>> model = cs.models.build("mnist_convnet")
        >>> penalty = SimilarityPenalty(layers="conv2d_1", weight=0.5)
        >>> penalty.on_train_begin(model, None)
        >>> _ = model.train()(torch.rand(4, 1, 28, 28))
        >>> term = penalty()
        >>> term.requires_grad, 0.0 < float(term.detach()) < 0.5
        (True, True)
        >>> penalty.on_train_end(model, {})
    """

    def __init__(
        self,
        layers: str | int | Sequence[str | int] = "conv",
        metric: str = "cosine",
        weight: float = 0.1,
        images: int | None = None,
        temperature: float = 0.1,
    ) -> None:
        if metric not in PENALTY_METRICS:
            raise UnknownNameError("penalty metric", [str(metric)], PENALTY_METRICS)
        self.layers = layers
        self.metric = metric
        self.weight = check_real(weight, "penalty weight", minimum=0.0)
        self.images = None if images is None else check_int(images, "images", minimum=1)
        self.temperature = check_real(temperature, "temperature", minimum=0, exclusive_minimum=True)
        self.layer_names_: list[str] = []
        self._maps: dict[str, torch.Tensor] = {}
        self._handles: list[Any] = []
        self._sums: dict[str, float] = {}
        self._steps = 0

    def describe(self) -> dict[str, Any]:
        """What the run record keeps of the penalty.

        Example:
            >>> SimilarityPenalty("conv2d_1", weight=0.2).describe()["weight"]
            0.2
        """
        return {
            "metric": self.metric,
            "weight": self.weight,
            "layers": self.layer_names_ or self.layers,
            "images": self.images,
            "temperature": self.temperature if self.metric == "multiply" else None,
        }

    def on_train_begin(self, model: Any, data: Any) -> None:
        """Resolve the layers and hook them (raises before training on a bad layer)."""
        if not isinstance(model, torch.nn.Module):
            raise ConvscopeError(
                "SimilarityPenalty trains torch models; got a " + type(model).__name__
            )
        self.on_train_end(model, {})
        with adapter_for(model) as adapter:
            self.layer_names_ = resolve_layers(self.layers, adapter.infos(shapes=False))
        modules = dict(model.named_modules())
        for name in self.layer_names_:
            self._handles.append(
                modules[name.replace("/", ".")].register_forward_hook(self._keeper(name))
            )

    def _keeper(self, name: str) -> Any:
        def keep(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            if module.training and torch.is_grad_enabled() and isinstance(output, torch.Tensor):
                self._maps[name] = output if self.images is None else output[: self.images]

        return keep

    def __call__(self) -> torch.Tensor:
        """The weighted term of the last training forward pass (its maps are then dropped)."""
        missing = [n for n in self.layer_names_ if n not in self._maps]
        if missing or not self.layer_names_:
            raise ConvscopeError(
                f"no training maps of {missing or self.layers} to penalise: call "
                "on_train_begin(model, data) and run a forward pass in train mode first"
            )
        total = None
        for name in self.layer_names_:
            value = soft_similarity(self._maps.pop(name), self.metric, self.temperature)
            self._sums[name] = self._sums.get(name, 0.0) + float(value.detach())
            total = value if total is None else total + value
        self._steps += 1
        return self.weight * total

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        """Log the epoch's mean term and per-layer similarity, then start the next epoch's."""
        steps = max(self._steps, 1)
        logs["penalty"] = self.weight * sum(self._sums.values()) / steps
        for name in self.layer_names_:
            logs[f"penalty/{name}"] = self._sums.get(name, 0.0) / steps
        self._sums, self._steps = {}, 0

    def on_train_end(self, model: Any, logs: dict[str, Any]) -> None:
        """Remove the hooks (safe to call twice)."""
        while self._handles:
            self._handles.pop().remove()
        self._maps.clear()
