"""One streaming pass (convscope.analysis.scan), its accumulators, and the report sections."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import convscope as cs
from convscope.analysis import MapSampler, scan
from convscope.analysis.firing import profile
from convscope.analysis.stats import channel_stats
from convscope.errors import ConvscopeError, ShapeError
from convscope.metrics.accumulator import Accumulator, Batch
from convscope.metrics.evaluation import EvaluationAccumulator
from convscope.metrics.firing import FiringAccumulator
from convscope.metrics.stats import ChannelStats
from convscope.metrics.topk import TopKAccumulator
from convscope.report import sections as S

SRC = Path(__file__).resolve().parents[2] / "src" / "convscope"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return cs.models.build("mnist_convnet")


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.random((45, 1, 28, 28), dtype=np.float32)
    return x, np.arange(45) % 10


def _accumulators():
    return [
        EvaluationAccumulator(keep_predictions=True),
        FiringAccumulator(10, layer="flatten"),
        ChannelStats(similarity_samples=6),
        MapSampler("conv", indices=[3, 17, 44]),
    ]


# -- scan ---------------------------------------------------------------------------------
def test_scan_with_several_accumulators_equals_separate_scans(model, xy):
    together = scan(model, xy, *_accumulators(), batch_size=16)
    alone = [scan(model, xy, acc, batch_size=16)[0] for acc in _accumulators()]
    ev, prof, stats, kept = together
    ev1, prof1, stats1, kept1 = alone
    np.testing.assert_array_equal(ev.confusion, ev1.confusion)
    assert ev.loss == ev1.loss
    np.testing.assert_array_equal(ev.predictions, ev1.predictions)
    np.testing.assert_array_equal(prof.fires, prof1.fires)
    for name in stats:
        np.testing.assert_array_equal(stats[name].mean, stats1[name].mean)
        assert stats[name].mean_similarity == stats1[name].mean_similarity
    for name in kept:
        np.testing.assert_array_equal(kept[name], kept1[name])


def test_scan_agrees_with_the_model_running_verbs(model, xy):
    x, y = xy
    ev, prof, stats, kept = scan(model, xy, *_accumulators(), batch_size=16)
    reference = cs.train.evaluate(model, x, y)
    np.testing.assert_array_equal(ev.confusion, reference.confusion)
    assert ev.loss == pytest.approx(reference.loss, rel=1e-12)
    np.testing.assert_array_equal(ev.predictions, reference.predictions)
    np.testing.assert_array_equal(prof.fires, profile(model, xy, "flatten", num_classes=10).fires)
    separate = channel_stats(model, x, similarity_samples=6, batch_size=7)
    for name, layer in separate.items():
        np.testing.assert_array_equal(stats[name].fire_fraction, layer.fire_fraction)
        np.testing.assert_allclose(stats[name].mean, layer.mean, rtol=1e-6)
    maps = cs.capture(model, x[[3, 17, 44]], layers="conv")
    for name in maps:
        np.testing.assert_allclose(kept[name], maps[name], rtol=1e-5, atol=1e-6)


def test_scan_feeds_dataloader_style_batches(model, xy):
    x, y = xy
    batches = [(x[i : i + 10], y[i : i + 10]) for i in range(0, 45, 10)]
    (from_batches,) = scan(model, batches, MapSampler("dense", indices=[0, 44]))
    (from_pair,) = scan(model, xy, MapSampler("dense", indices=[0, 44]))
    np.testing.assert_allclose(from_batches["dense"], from_pair["dense"], rtol=1e-5, atol=1e-6)


def test_scan_errors(model, xy):
    x, _y = xy
    with pytest.raises(ConvscopeError, match="at least one accumulator"):
        scan(model, xy)
    with pytest.raises(ConvscopeError, match="labels"):
        scan(model, x, EvaluationAccumulator())
    with pytest.raises(ConvscopeError, match="needs a layer"):
        scan(model, xy, FiringAccumulator(10))
    with pytest.raises(ConvscopeError, match="accumulators"):
        scan(model, xy, object())
    with pytest.raises(cs.errors.UnknownNameError, match="nope"):
        scan(model, xy, ChannelStats(layers="nope"))
    with pytest.raises(ConvscopeError, match="empty"):
        scan(model, [], ChannelStats())


def test_scan_progress_callable(model, xy):
    seen = []
    scan(
        model,
        xy,
        ChannelStats(similarity_samples=0),
        batch_size=20,
        progress=lambda *a: seen.append(a),
    )
    assert seen == [(20, 45), (40, 45), (45, 45)]


def test_accumulators_follow_the_protocol():
    for acc in _accumulators():
        assert isinstance(acc, Accumulator)


# -- evaluation accumulator -------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    scores=st.sampled_from(["logits", "probabilities"]),
)
def test_evaluation_merge_equals_whole_exactly(seed, n, cuts, scores):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=4.0, size=(n, 5))
    if scores == "probabilities":
        logits = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 5, n)
    whole = EvaluationAccumulator(scores=scores, keep_predictions=True)
    whole.update(logits, labels)
    bounds = [0, *sorted(min(c, n) for c in cuts), n]

    def parts() -> list[EvaluationAccumulator]:
        out = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            part = EvaluationAccumulator(scores=scores, keep_predictions=True)
            part.update(logits[lo:hi], labels[lo:hi])
            out.append(part)
        return out

    merged = EvaluationAccumulator(scores=scores, keep_predictions=True)
    for part in parts():
        merged.merge(part)
    a, b = merged.result(), whole.result()
    assert a.loss == b.loss  # bit for bit: the loss is an exact sum
    np.testing.assert_array_equal(a.confusion, b.confusion)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert a.per_class_accuracy == b.per_class_accuracy
    other = EvaluationAccumulator(scores=scores, keep_predictions=True)
    for part in parts()[::-1]:
        other.merge(part)
    assert other.result().loss == b.loss  # in any order


def test_evaluation_by_hand_and_auto_probabilities():
    logits = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    labels = np.array([0, 0, 2])
    acc = EvaluationAccumulator(class_names=["a", "b", "c"])
    acc.update(logits, labels)
    result = acc.result()
    assert result.confusion.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert result.per_class_accuracy == {"a": 0.5, "b": None, "c": 1.0}
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -np.mean(np.log(probs[np.arange(3), labels]))
    assert result.loss == pytest.approx(expected, rel=1e-12)
    auto = EvaluationAccumulator()  # softmax rows: their log is used as logits
    auto.update(probs, labels)
    assert auto.scores_ == "probabilities"
    assert auto.result().loss == pytest.approx(expected, rel=1e-9)
    json.dumps(result.to_json(), allow_nan=False)


def test_evaluation_accumulator_errors():
    acc = EvaluationAccumulator(class_names=["a", "b"])
    with pytest.raises(ShapeError, match="2 class names for a model with 3 outputs"):
        acc.update(np.zeros((1, 3)), [0])
    with pytest.raises(ConvscopeError, match="class indices"):
        EvaluationAccumulator().update(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ShapeError, match="one-hot"):
        EvaluationAccumulator().update(np.zeros((2, 2)), np.array([[0.5, 0.5], [1.0, 0.0]]))
    with pytest.raises(ConvscopeError, match="no samples"):
        EvaluationAccumulator().result()
    with pytest.raises(ConvscopeError, match="settings"):
        a, b = EvaluationAccumulator(), EvaluationAccumulator()
        a.update(np.zeros((1, 2)), [0])
        b.update(np.zeros((1, 3)), [0])
        a.merge(b)


def test_train_evaluate_uses_the_accumulator(model, xy):
    x, y = xy
    (scanned,) = scan(model, xy, EvaluationAccumulator(keep_predictions=True), batch_size=512)
    evaluated = cs.train.evaluate(model, x, y)
    np.testing.assert_array_equal(evaluated.confusion, scanned.confusion)
    assert evaluated.loss == pytest.approx(scanned.loss, rel=1e-12)
    np.testing.assert_allclose(evaluated.probabilities, scanned.probabilities, rtol=1e-5)


# -- map sampler -----------------------------------------------------------------------------
def test_map_sampler_merge_and_bounds():
    maps = np.arange(10.0)[:, None]
    a, b = MapSampler("d", indices=[7, 1]), MapSampler("d", indices=[7, 1])
    a.update({"d": maps[:5]}, start=0)
    b.update({"d": maps[5:]}, start=5)
    assert a.merge(b).result()["d"].ravel().tolist() == [7.0, 1.0]
    short = MapSampler("d", indices=[12])
    short.update({"d": maps}, start=0)
    with pytest.raises(ConvscopeError, match="never seen"):
        short.result()
    with pytest.raises(ConvscopeError, match="either"):
        MapSampler("d")


# -- sections -----------------------------------------------------------------------------------
def _round_trip(result) -> dict:
    payload = result.to_json()
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text) == payload
    return payload


def test_every_section_result_is_json_safe(model, xy):
    x, y = xy
    infos = cs.layers(model)
    data = S.model.DataSummary("toy", "test", len(x), tuple("0123456789"))
    ev, prof, stats, kept, tops = scan(
        model, xy, *_accumulators(), TopKAccumulator(3, layers=["conv2d_1"]), batch_size=16
    )
    results = {
        "model": S.model.compute(infos, arch="mnist_convnet", input_shape=(1, 28, 28), data=data),
        "training": S.training.compute({"loss": [1.0, math.nan], "val_loss": [math.inf, 0.5]}),
        "evaluation": S.evaluation.compute(ev, x, y, list("0123456789"), "test"),
        "feature-maps": S.feature_maps.compute(
            x[[3, 17, 44]],
            kept,
            {"conv2d": "conv", "conv2d_1": "conv"},
            indices=[3, 17, 44],
            labels=y[[3, 17, 44]],
            predictions=ev.predictions[[3, 17, 44]],
            class_names=list("0123456789"),
            split="test",
        ),
        "kernels": S.kernels.compute(model, infos),
        "similarity": S.similarity.compute(
            {n: m[:2] for n, m in kept.items()},
            {n: m[:1] for n, m in kept.items()},
            x[3],
            probe_index=3,
            metric="multiply",
            split="test",
        ),
        "classes": S.firing.compute(prof, np.zeros((10, 1, 28, 28)), "flatten"),
        "channels": S.channels.compute(stats, split="test", count=len(x)),
        "atlas": S.atlas.compute(model, x, tops, split="test", max_channels=4),
    }
    assert [section.ID for section in S.SECTIONS] == list(results)
    for section in S.SECTIONS:
        result = results[section.ID]
        assert dataclasses.is_dataclass(result)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, dataclasses.fields(result)[0].name, None)
        payload = _round_trip(result)
        assert set(section.METRICS) <= set(payload)
    assert _round_trip(results["training"])["training"]["history"]["loss"] == [1.0, None]
    assert S.firing.compute(None).to_json() == {"firing": None}
    assert S.training.compute(None).to_json() == {"training": None}


def test_section_figures_are_detached_figures_and_html_uses_their_paths(model, xy):
    from matplotlib.figure import Figure

    x, y = xy
    (ev,) = scan(model, xy, _accumulators()[0])
    result = S.evaluation.compute(ev, x, y, list("0123456789"), "test")
    figures = S.evaluation.figures(result)
    assert set(figures) == {"confusion", "predictions"}
    assert all(isinstance(fig, Figure) for fig in figures.values())
    page = S.evaluation.html(result, {key: f"/live/{key}.png" for key in figures})
    assert "/live/confusion.png" in page and "/live/predictions.png" in page


# -- the report's one pass ----------------------------------------------------------------
def test_report_runs_exactly_one_pass_over_the_split(tmp_path):
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    data = cs.data.load("mnist5k", seed=0, data_dir=tmp_path / "cache")
    n = 300
    small = dataclasses.replace(data, x_test=data.x_test[:n], y_test=data.y_test[:n])
    calls: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda _m, inputs: calls.append(inputs[0]))
    try:
        report = cs.report.build_report(
            model, small, tmp_path / "report", images=[0], similarity_images=4
        )
    finally:
        handle.remove()
    # layer listing runs one zero image to learn the output shapes; the data goes once
    probes = [t for t in calls if t.shape[0] == 1 and not t.any()]
    data_calls = [int(t.shape[0]) for t in calls if not (t.shape[0] == 1 and not t.any())]
    assert data_calls[:2] == [256, n - 256]
    assert len(probes) <= 2  # the layer listing's and the atlas capture's one-row traces
    # after the pass, only the atlas's exemplar images run again (for their maps' overlays)
    exemplars = {
        e["image"]
        for layer in report.metrics["atlas"].values()
        for channel in layer["channels"]
        for e in channel["exemplars"]
    }
    assert sum(data_calls[2:]) == len(exemplars) < n


# -- import rules of this change ----------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


@pytest.mark.parametrize("module", ["firing.py", "stats.py", "evaluation.py", "accumulator.py"])
def test_metrics_modules_do_not_run_models(module):
    imports = _imports(SRC / "metrics" / module)
    assert not {i for i in imports if "capturing" in i or "adapters" in i or "analysis" in i}


def test_moved_names_still_work_with_a_deprecation_warning():
    import convscope.analysis.firing as new_firing
    import convscope.analysis.stats as new_stats
    import convscope.metrics.firing as old_firing
    import convscope.metrics.stats as old_stats
    from convscope._cluster import cluster_order

    for module, name, target in (
        (old_firing, "profile", new_firing.profile),
        (old_firing, "default_layer", new_firing.default_layer),
        (old_stats, "channel_stats", new_stats.channel_stats),
    ):
        with pytest.warns(DeprecationWarning, match="moved"):
            assert getattr(module, name) is target
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cs.firing.profile is new_firing.profile
        assert cs.firing.FiringAccumulator is FiringAccumulator
        assert old_firing.cluster_order is cluster_order
    with pytest.raises(AttributeError):
        old_firing.nothing_here  # noqa: B018


def test_batch_length():
    assert len(Batch(maps={"a": np.zeros((3, 2))})) == 3
    assert len(Batch()) == 0


@pytest.mark.parametrize("backend", ["keras", "onnx"])
def test_evaluate_and_scan_of_keras_and_onnx_twins_match_torch(backend, model, xy, tmp_path):
    """Keras and ONNX models stream through scan; their last layer is the output."""
    x, y = xy
    if backend == "keras":
        pytest.importorskip("keras")
        from convscope.keras import from_zoo

        twin = from_zoo(model)
    else:
        pytest.importorskip("onnxruntime")
        from convscope.export import export_onnx

        twin, _ = cs.models.load(export_onnx(model, tmp_path / "m.onnx"))
    reference = cs.train.evaluate(model, x, y)
    got = cs.train.evaluate(twin, x, y)
    np.testing.assert_array_equal(got.confusion, reference.confusion)
    assert got.loss == pytest.approx(reference.loss, abs=1e-4)
    (scanned,) = scan(twin, xy, EvaluationAccumulator(), batch_size=512)
    np.testing.assert_array_equal(scanned.confusion, got.confusion)
    assert scanned.loss == got.loss
