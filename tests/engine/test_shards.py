"""Shards without Ray: cutting, per-shard copies, and merged shards equal to one pass."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convscope as cs
from convscope.analysis import MapSampler, scan
from convscope.cli import main
from convscope.engine import DataSpec, ModelSpec, Shard, for_shard, plan_shards, scan_shard
from convscope.engine.ray_engine import check_reachable, require_ray
from convscope.errors import BackendMissingError, ConvscopeError
from convscope.metrics.evaluation import EvaluationAccumulator
from convscope.metrics.firing import FiringAccumulator
from convscope.metrics.stats import ChannelStats
from convscope.metrics.topk import TopKAccumulator


@given(st.integers(1, 500), st.integers(1, 40), st.integers(1, 64))
def test_shards_cover_the_data_once_in_order_cut_on_batches(total, count, align):
    shards = plan_shards(total, count, align=align)
    assert shards[0].start == 0 and shards[-1].stop == total
    assert all(a.stop == b.start for a, b in zip(shards, shards[1:], strict=False))
    assert all(s.stop > s.start for s in shards) and len(shards) <= min(count, total)
    assert all(s.start % align == 0 for s in shards)
    if align == 1:
        sizes = [s.stop - s.start for s in shards]
        assert max(sizes) - min(sizes) <= 1 and len(shards) == min(count, total)


@given(st.integers(0, 50), st.integers(1, 60), st.integers(1, 9))
def test_similarity_samples_split_over_shards_add_up(samples, total, count):
    template = ChannelStats(similarity_samples=samples)
    got = [for_shard(template, s).similarity_samples for s in plan_shards(total, count)]
    assert sum(got) == min(samples, total)
    assert template.similarity_samples == samples  # the template is not touched


def _accumulators():
    return [
        ChannelStats(similarity_samples=7),
        FiringAccumulator(10, layer="flatten"),
        TopKAccumulator(5, layers=["conv2d", "conv2d_1"]),
        EvaluationAccumulator(keep_predictions=True),
        MapSampler("conv2d_1", indices=[2, 30]),
    ]


def _assert_same(merged, one):
    stats, prof, tops, ev, kept = merged
    stats1, prof1, tops1, ev1, kept1 = one
    for name, s in stats.items():
        np.testing.assert_allclose(s.mean, stats1[name].mean, rtol=1e-12)
        np.testing.assert_array_equal(s.fire_fraction, stats1[name].fire_fraction)
        np.testing.assert_array_equal(s.dead, stats1[name].dead)
        assert s.similarity_samples == stats1[name].similarity_samples == 7
        assert s.mean_similarity == pytest.approx(stats1[name].mean_similarity, rel=1e-12)
    np.testing.assert_array_equal(prof.fires, prof1.fires)
    np.testing.assert_array_equal(prof.counts, prof1.counts)
    for name, t in tops.items():
        np.testing.assert_array_equal(t.images, tops1[name].images)
        np.testing.assert_array_equal(t.values, tops1[name].values)
        np.testing.assert_array_equal(
            t.rows * 100 + t.cols, tops1[name].rows * 100 + tops1[name].cols
        )
    np.testing.assert_array_equal(ev.confusion, ev1.confusion)
    np.testing.assert_array_equal(ev.predictions, ev1.predictions)
    np.testing.assert_array_equal(kept["conv2d_1"], kept1["conv2d_1"])


def test_shards_scanned_apart_and_merged_equal_one_pass():
    model = cs.models.build("mnist_convnet")
    rng = np.random.default_rng(0)
    x, y = rng.random((41, 1, 28, 28), dtype=np.float32), np.arange(41) % 10
    one = scan(model, (x, y), *_accumulators(), batch_size=8)
    shards = plan_shards(len(x), 4, align=8)  # cut on batches: the same maps as one pass
    parts = [scan_shard(model, (x[s.start : s.stop], y[s.start : s.stop]), s, _accumulators(),
                        batch_size=8) for s in shards]  # fmt: skip
    merged = parts[0]
    for part in parts[1:]:
        for mine, theirs in zip(merged, part, strict=True):
            mine.merge(theirs)
    _assert_same([acc.result() for acc in merged], one)


def test_a_data_spec_loads_its_shard_by_name(tmp_path):
    spec = DataSpec("mnist5k", "val", data_dir=str(tmp_path))
    x, y = spec.images(Shard(1, 10, 14))
    full_x, full_y = cs.data.load("mnist5k", data_dir=tmp_path).split("val")
    np.testing.assert_array_equal(x, full_x[10:14])
    np.testing.assert_array_equal(y, full_y[10:14])
    with pytest.raises(ConvscopeError, match="past the end"):
        spec.images(Shard(0, 0, 10**6))


def test_the_model_spec_takes_files_only():
    with pytest.raises(ConvscopeError, match="does not exist"):
        ModelSpec("mnist_convnet")  # a zoo name: random weights would differ per worker


def test_without_ray_the_error_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BackendMissingError, match=r"pip install 'convscope\[ray\]'"):
        require_ray()
    assert main(["stats", "mnist_convnet", "--data", "mnist5k", "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("convscope: error:")]
    assert len(errors) == 1 and "pip install 'convscope[ray]'" in errors[0]
    assert all(line.startswith("convscope: ") for line in err)  # the rest: one-line warnings


def test_an_unreachable_address_fails_fast_with_one_line():
    with pytest.raises(ConvscopeError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        check_reachable("127.0.0.1:1", timeout=2)
    with pytest.raises(ConvscopeError, match="is not HOST:PORT"):
        check_reachable("localhost")


def test_the_scan_engine_hook_merges_what_the_engine_fed():
    """Any engine (here: shards scanned in turn, as Ray would) plugs into scan itself."""
    model = cs.models.build("mnist_convnet")
    rng = np.random.default_rng(1)
    x, y = rng.random((33, 1, 28, 28), dtype=np.float32), np.arange(33) % 10
    calls = []

    def local_engine(accumulators):
        calls.append(len(accumulators))
        shards = plan_shards(len(x), 3, align=8)
        parts = [scan_shard(model, (x[s.start : s.stop], y[s.start : s.stop]), s, accumulators,
                            batch_size=8) for s in shards]  # fmt: skip
        for part in parts[1:]:
            for mine, theirs in zip(parts[0], part, strict=True):
                mine.merge(theirs)
        return parts[0]

    via_engine = scan(model, (x, y), *_accumulators(), batch_size=8, engine=local_engine)
    _assert_same(via_engine, scan(model, (x, y), *_accumulators(), batch_size=8))
    assert calls == [5]
