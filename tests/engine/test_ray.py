"""A local 2-worker Ray cluster gives what one process gives: stats, classes, atlas.

Kept few and quick (the val split of mnist5k, 500 images; a tiny trained run) and marked
slow; they still run in ``make test``. One Ray is started for the module.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from convscope.analysis import scan
from convscope.cli import main
from convscope.engine import DataSpec, ModelSpec, run_sharded
from convscope.errors import ConvscopeError
from convscope.metrics.firing import FiringAccumulator
from convscope.metrics.stats import ChannelStats
from convscope.metrics.topk import TopKAccumulator

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(short_run):
    """The session's short run (tests/conftest.py), copied for this module."""
    return short_run


@pytest.fixture(scope="module")
def cluster():
    """A local Ray with two worker CPUs for the whole module."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _cli(args, run, out, engine):
    folder, cache = run
    extra = ["--engine", "ray", "--workers", "2"] if engine else []
    argv = [*args, str(folder), "--data-dir", str(cache), "--split", "val", "--batch-size", "64"]
    assert main([*argv, "--out", str(out), *extra]) == 0


def test_stats_classes_and_atlas_on_two_workers_equal_one_process(run, cluster, tmp_path):
    for engine in (False, True):
        out = tmp_path / ("ray" if engine else "one")
        _cli(["stats"], run, out / "stats", engine)
        _cli(["classes", "--layer", "conv2d_1"], run, out / "classes", engine)
        _cli(["atlas", "--layers", "conv2d,conv2d_1", "--k", "5", "--channels", "0-3"], run,
             out / "atlas", engine)  # fmt: skip
    one, many = tmp_path / "one", tmp_path / "ray"
    stats, stats_ray = (json.loads((d / "stats" / "stats.json").read_text()) for d in (one, many))
    for layer, s in stats.items():
        r = stats_ray[layer]
        assert r["fire_fraction"] == s["fire_fraction"] and r["dead"] == s["dead"]
        assert r["num_samples"] == s["num_samples"] == 500
        np.testing.assert_allclose(r["mean"], s["mean"], rtol=1e-12)
        assert r["mean_similarity"] == pytest.approx(s["mean_similarity"], rel=1e-12)
    for name in ("profile.csv", "nearest.csv"):  # counts and rates: equal to the digit
        assert (many / "classes" / name).read_text() == (one / "classes" / name).read_text()
    for layer in ("conv2d", "conv2d_1"):
        assert json.loads((many / "atlas" / f"{layer}.json").read_text()) == json.loads(
            (one / "atlas" / f"{layer}.json").read_text()
        )
        with (
            np.load(one / "atlas" / f"{layer}.npz") as a,
            np.load(many / "atlas" / f"{layer}.npz") as b,
        ):
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])


def _killer(marker, at, always=False):
    """An accumulator that kills its worker process when it reaches image ``at``."""

    class KillWorker:
        layers = ("conv2d",)
        needs_output = False

        def feed(self, batch):
            if batch.start <= at < batch.start + len(batch):
                if always or not os.path.exists(marker):
                    with open(marker, "a") as f:
                        f.write("died\n")
                    os._exit(1)  # the worker process dies mid-shard, like a lost machine

        def merge(self, other):
            return self

        def result(self):
            return None

    return KillWorker()


def _accumulators():
    return [
        ChannelStats(similarity_samples=100, layers=["conv2d", "conv2d_1"]),
        FiringAccumulator(10, layer="flatten"),
        TopKAccumulator(5, layers=["conv2d_1"]),
    ]


def test_a_killed_worker_is_retried_and_its_shard_counted_once(run, cluster, tmp_path):
    folder, cache = run
    spec = DataSpec("mnist5k", "val", data_dir=str(cache))
    x, y = spec.arrays()
    model = ModelSpec(str(folder)).load()
    one = scan(model, (x, y), *_accumulators(), batch_size=64)
    marker = tmp_path / "died"
    merged = run_sharded(str(folder), spec, [*_accumulators(), _killer(str(marker), at=300)],
                         workers=2, batch_size=64)  # fmt: skip
    assert marker.read_text() == "died\n"  # the worker died once, and its shard ran again
    stats, prof, tops = (acc.result() for acc in merged[:3])
    assert prof.counts.sum() == len(x)  # no image counted twice
    np.testing.assert_array_equal(prof.fires, one[1].fires)
    for layer, s in stats.items():
        assert s.num_samples == len(x)
        np.testing.assert_array_equal(s.fire_fraction, one[0][layer].fire_fraction)
        np.testing.assert_allclose(s.mean, one[0][layer].mean, rtol=1e-12)
    np.testing.assert_array_equal(tops["conv2d_1"].images, one[2]["conv2d_1"].images)


def test_a_shard_that_fails_twice_stops_the_run_naming_it(run, cluster, tmp_path):
    folder, cache = run
    spec = DataSpec("mnist5k", "val", data_dir=str(cache))
    with pytest.raises(ConvscopeError, match=r"shard 1 \(images 128\.\.255\) failed twice"):
        run_sharded(str(folder), spec, [_killer(str(tmp_path / "m"), at=200, always=True)],
                    workers=2, batch_size=64, shards=4)  # fmt: skip


def test_a_worker_that_cannot_read_the_model_names_the_shard_and_cause(run, cluster, tmp_path):
    _folder, cache = run
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a model")
    # every shard fails; whichever Ray reports first is named, with its images and the cause
    with pytest.raises(
        ConvscopeError, match=r"shard \d+ \(images \d+\.\.\d+\) failed: FormatError: .*broken"
    ):
        run_sharded(str(bad), DataSpec("mnist5k", "val", data_dir=str(cache)), _accumulators(),
                    workers=2, batch_size=64)  # fmt: skip


def test_a_failed_run_writes_nothing(run, cluster, tmp_path, capsys, monkeypatch):
    from convscope.engine import RayEngine

    def fail(self, accumulators):
        raise ConvscopeError("shard 1 (images 128..255) failed twice: WorkerCrashedError")

    monkeypatch.setattr(RayEngine, "__call__", fail)
    folder, cache = run
    for verb in (["stats"], ["atlas"]):
        out = tmp_path / verb[0]
        argv = [*verb, str(folder), "--data-dir", str(cache), "--engine", "ray", "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            "convscope: error: shard 1 (images 128..255) failed twice: WorkerCrashedError"
        ]
        assert not out.exists()
