"""Every public verb on every pattern: capture, layers, similarity, firing, stats, report.

The torch patterns are written in :mod:`.models`; the Keras ones are
``keras.applications`` MobileNetV2, ResNet50 and EfficientNetB0 built with
``weights=None`` (no download) at 32x32, the smallest input they take.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

import convscope as cs
from convscope.adapters import LayerSkipWarning, ModelInputs
from convscope.adapters.base import default_firing_layer, spatial_layers
from convscope.analysis.stats import channel_stats
from convscope.report.inputs import prepare, run_pass, section_computes
from convscope.report.sections.model import DataSummary

from .conftest import labels_for
from .models import CLASSES, SINGLE_INPUT, build

os.environ.setdefault("KERAS_BACKEND", "torch")
KERAS_APPS = ["MobileNetV2", "ResNet50", "EfficientNetB0"]


def _dataset(shape: tuple[int, ...], n: int = 9):
    x = np.random.default_rng(1).random((n, *shape), dtype=np.float32)
    y = labels_for(n)
    return cs.data.Dataset("patterns", ["a", "b", "c"], x, y, x, y, x, y, synthetic=True)


def _check_verbs(model, data) -> None:
    """capture, layers, similarity, firing profile, channel stats on one model."""
    x, y = data.x_test, data.y_test
    infos = cs.layers(model)
    maps = cs.capture(model, x[:2])
    shapes = {i.name: i.output_shape for i in infos}
    for name, value in maps.items():
        assert value.dtype == np.float32 and np.isfinite(value).all(), name
        assert value.shape[1:] == shapes[name], name  # cs.layers tells the truth
    convs = spatial_layers(infos, ("conv",))
    assert convs, "every pattern has a spatial conv"
    for layer in (convs[0], convs[-1]):
        pairs = cs.similarity.pairwise(maps[layer][:1], metric="multiply")
        channels = maps[layer].shape[1]
        assert pairs.shape == (channels, channels)
        assert abs(cs.similarity.mean_similarity(maps[layer], metric="cosine")) <= 1.0 + 1e-6
    layer = default_firing_layer(infos)
    profile = cs.firing.profile(model, (x, y), layer=layer, num_classes=CLASSES)
    assert profile.counts.tolist() == np.bincount(y, minlength=CLASSES).tolist()
    # "kind:conv": the kind, even where a layer is named "conv" (a torch ``self.conv``)
    stats = channel_stats(model, x, layers="kind:conv", similarity_samples=2)
    assert sorted(stats) == sorted(i.name for i in infos if i.kind == "conv" and i.ran)


def _check_report_computes(model, data) -> dict:
    """The report's one pass and every section's numbers, without drawing the figures."""
    plan = prepare(model, data, "test", images=None, metric="multiply", similarity_images=2)
    done = run_pass(model, plan)
    summary = DataSummary(data.name, "test", len(plan.x), plan.class_names, True)
    computes = section_computes(
        model, plan, done, data=summary, history=None, evaluation=None, metric="multiply"
    )
    metrics = {}
    for compute in computes.values():
        metrics.update(compute().to_json())
    json.dumps(metrics, allow_nan=False, default=float)
    assert metrics["evaluation"]["count"] == len(data.x_test)
    return metrics


@pytest.mark.parametrize("name", SINGLE_INPUT)
def test_every_verb_on_each_torch_pattern(name):
    model = build(name)
    data = _dataset(model.input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayerSkipWarning)
        _check_verbs(model, data)
        metrics = _check_report_computes(model, data)
    spatial = [i for i in metrics["model"]["layers"] if i["name"] in metrics.get("channels", {})]
    assert all(len(i["output_shape"]) == 3 for i in spatial)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["residual", "convnext", "tuple_out"])
def test_the_report_of_a_torch_pattern_is_written(name, tmp_path):
    model = build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayerSkipWarning)
        report = cs.report.build_report(
            model, _dataset(model.input_shape), tmp_path, similarity_images=2
        )
    assert report.index.exists() and report.metrics["evaluation"]["count"] == 9
    assert all((tmp_path / path).exists() for path in report.figures.values())


def test_every_verb_on_the_two_input_model():
    model = build("two_inputs")
    rng = np.random.default_rng(0)
    image = rng.random((6, 3, 10, 10), dtype=np.float32)
    mask = np.ones((6, 1, 10, 10), np.float32)
    both = ModelInputs((image, mask))
    y = labels_for(6)
    maps = cs.capture(model, both)
    assert list(maps) == ["conv", "relu", "pool", "fc"]
    shapes = {i.name: i.output_shape for i in cs.layers(model)}  # traced on the last inputs
    assert shapes["conv"] == (6, 10, 10)
    assert cs.similarity.pairwise(maps["conv"][:1]).shape == (6, 6)
    profile = cs.firing.profile(model, (both, y), layer="relu", num_classes=CLASSES)
    assert profile.counts.sum() == 6
    stats = channel_stats(model, both, similarity_samples=2)
    assert list(stats) == ["conv"]
    # the report takes a data set of images: a model that needs two says how it is called
    with pytest.raises(cs.errors.ConvscopeError, match=r"TwoInputs.forward\(image, mask\)"):
        cs.report.build_report(model, _dataset((3, 10, 10)), "unused")


@pytest.fixture(scope="module", params=KERAS_APPS)
def keras_app(request):
    keras = pytest.importorskip("keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input shape not one of the pretrained sizes"
        return getattr(keras.applications, request.param)(
            weights=None, input_shape=(32, 32, 3), classes=CLASSES
        )


@pytest.mark.slow
def test_every_verb_on_keras_applications(keras_app):
    data = _dataset((3, 32, 32), n=6)
    _check_verbs(keras_app, data)
    metrics = _check_report_computes(keras_app, data)
    assert metrics["model"]["params"] == keras_app.count_params()
