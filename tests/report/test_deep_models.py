"""A deep model's report: an even spread of layers drawn and compared, the rest named;
belts capped per layer; wide similarity matrices at one pixel per channel."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.report.inputs import MAX_COMPARED_LAYERS, MAX_DRAWN_LAYERS, display_subset


class Deep(nn.Module):
    """30 conv+ReLU blocks at 8x8 (30 spatial conv layers), then a 3-class head."""

    def __init__(self, depth: int = 30, width: int = 4) -> None:
        super().__init__()
        blocks = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            blocks += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.body(x)).flatten(1))


def test_display_subset_spreads_evenly_and_keeps_what_is_asked():
    names = [f"l{i}" for i in range(100)]
    picked = display_subset(names, 10, keep=["l50"])
    assert len(picked) == 10 and picked[0] == "l0" and picked[-1] == "l99" and "l50" in picked
    assert list(picked) == sorted(picked, key=names.index)  # model order
    gaps = np.diff([names.index(n) for n in picked if n != "l50"])
    assert gaps.max() - gaps.min() <= 1  # even
    assert display_subset(names[:5], 10) == tuple(names[:5])


def test_deep_model_report_draws_a_spread_and_names_the_rest(tmp_path):
    torch.manual_seed(0)
    model = Deep().eval()
    model.input_shape = (1, 8, 8)
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    y = np.arange(6) % 3
    data = cs.data.Dataset("deep", ["a", "b", "c"], x, y, x, y, x, y, synthetic=True)
    report = cs.report.build_report(model, data, tmp_path / "r", images=[0], similarity_images=2)
    metrics = json.loads(report.metrics_path.read_text())
    convs = [i.name for i in cs.layers(model) if i.kind == "conv"]
    assert len(convs) == 30
    compared = metrics["similarity"]["layers"]
    left = metrics["similarity"]["left_out"]
    assert len(compared) == MAX_COMPARED_LAYERS and sorted([*compared, *left]) == sorted(convs)
    mosaics = sorted(p.name for p in (tmp_path / "r" / "figures").glob("mosaic_0_*"))
    assert len(mosaics) == MAX_DRAWN_LAYERS
    assert convs[-1].replace("/", "_") in " ".join(mosaics)  # the overlay's layer is drawn
    page = (tmp_path / "r" / "index.html").read_text()
    assert f"{MAX_DRAWN_LAYERS} of 30 conv and pool layers drawn" in page
    assert f"{MAX_COMPARED_LAYERS} of 30 conv layers compared" in page
    # dead-channel statistics still cover every conv layer
    assert set(metrics["channels"]) >= set(convs)


def test_belt_caps_maps_per_layer_and_says_so():
    maps = {"wide": np.random.default_rng(0).random((1, 100, 6, 6), dtype=np.float32)}
    fig = cs.render.belt(maps, max_maps=64)
    capped = fig.canvas.get_width_height()
    whole = cs.render.belt(maps).canvas.get_width_height()
    assert capped[1] < whole[1]  # fewer rows of maps
    with pytest.raises(cs.errors.ConvscopeError, match="max_maps"):
        cs.render.belt(maps, max_maps=0)


def test_belt_label_names_the_cap(monkeypatch):
    import convscope.render.maps as maps_mod

    labels = []
    original = maps_mod._pixels.draw_text
    monkeypatch.setattr(
        maps_mod._pixels,
        "draw_text",
        lambda canvas, x, y, text, *a, **k: (
            labels.append(text) or original(canvas, x, y, text, *a, **k)
        ),
    )
    cs.render.belt({"wide": np.ones((1, 100, 6, 6), np.float32)}, max_maps=64)
    assert any("wide · 100×6×6 · first 64 of 100 maps" in t for t in labels)


def test_a_2048_channel_matrix_is_drawn_one_pixel_per_channel():
    s = np.random.default_rng(0).random((600, 600))
    fig = cs.render.similarity_matrix((s + s.T) / 2, order=None)
    width, height = fig.canvas.get_width_height()
    assert 600 <= width < 1200 and 600 <= height < 1200


def test_overlay_and_belt_of_a_wide_layer_draw_the_first_64_and_say_so():
    from convscope.report.sections import feature_maps

    maps = {"conv": np.random.default_rng(0).random((1, 100, 6, 6), dtype=np.float32)}
    result = feature_maps.compute(np.zeros((1, 1, 12, 12)), maps, {"conv": "conv"}, indices=[0],
                                  labels=[0], predictions=[0], class_names=["a"], split="test")  # fmt: skip
    figs = feature_maps.figures(result)
    assert figs["overlay_0_conv"].texts[0].get_text().startswith("first 64 of 100 maps")
    page = feature_maps.html(result, {k: k + ".png" for k in figs})
    assert "The first 64 of 100 maps: each conv map upsampled" in page
