"""Engines that run one data-set pass past one process: Ray, shard by shard.

* :func:`run_sharded` -- ``run_sharded(model_spec, data_spec, accumulators, workers,
  address)``: shards by image index, each a Ray task that loads the model and its images
  itself and returns the fed accumulators; the driver merges them in shard order.
* :class:`RayEngine` -- the same as :func:`convscope.analysis.scan`'s ``engine`` hook.
* :mod:`convscope.engine.shards` -- shards, model and data specs, one shard's scan.

Ray is optional (``pip install 'convscope[ray]'``) and imported only when a run starts.

Example:
    >>> from convscope.engine import plan_shards
    >>> [str(s) for s in plan_shards(5, 2)]
    ['shard 0 (images 0..1)', 'shard 1 (images 2..4)']
"""

from __future__ import annotations

from .ray_engine import RayEngine, connect, default_shards, require_ray, run_sharded
from .shards import DataSpec, ModelSpec, Shard, for_shard, plan_shards, scan_shard

__all__ = [
    "DataSpec",
    "ModelSpec",
    "RayEngine",
    "Shard",
    "connect",
    "default_shards",
    "for_shard",
    "plan_shards",
    "require_ray",
    "run_sharded",
    "scan_shard",
]
