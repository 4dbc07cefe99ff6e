"""Tests for convscope.render: pixels and numbers, not just that a figure exists."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from convscope import render  # noqa: E402
from convscope.errors import ConvscopeError, ShapeError, UnknownNameError  # noqa: E402
from tests.seeds import seed_004_standardize  # noqa: E402

RNG = np.random.default_rng(0)


def _close(fig) -> None:
    fig.clf()


def _draw(fig) -> np.ndarray:
    """Render without NaN/overflow RuntimeWarnings, close, return the pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        px = render.to_uint8(fig)
    _close(fig)
    assert px.dtype == np.uint8 and px.ndim == 3 and px.shape[2] == 3
    return px


# ---------------------------------------------------------------- pure numpy


def test_tile_places_channel_k_at_row_k_div_cols():
    c, h, w, cols, gap = 11, 3, 4, 4, 1
    maps = np.stack([np.full((h, w), k, np.float32) for k in range(c)])
    img = render.tile(maps, cols=cols, norm="none", gap=gap, fill=-1.0)
    rows = 3
    assert img.shape == (rows * (h + gap) - gap, cols * (w + gap) - gap)
    for k in range(c):
        r, col = divmod(k, cols)
        y, x = r * (h + gap), col * (w + gap)
        assert (img[y : y + h, x : x + w] == k).all()
    assert (img[h, :] == -1).all()  # the gap row
    assert (img[:, w] == -1).all()  # the gap column
    assert (img[2 * (h + gap) :, 3 * (w + gap) :] == -1).all()  # unused cell


def test_tile_without_gap_and_square_default():
    maps = RNG.random((16, 5, 5))
    img = render.tile(maps, cols=None, norm="none", gap=0)
    assert img.shape == (20, 20)
    np.testing.assert_allclose(img[5:10, 10:15], maps[6], rtol=1e-6)


def test_standardize_flat_map_is_exactly_128_and_matches_seed():
    maps = np.stack([np.full((6, 6), 0.1, np.float32), np.zeros((6, 6), np.float32)])
    out = render.normalize(maps, "standardize")
    assert (out == 128.0).all()
    # seed 004 formula on a non-flat map
    x = RNG.random((9, 9)).astype(np.float64)
    ref = seed_004_standardize(x)  # uint8, as the seed casts
    got = render.normalize(x[None], "standardize")[0]
    np.testing.assert_array_less(np.abs(got - ref), 1.0 + 1e-6)  # the seed truncates to uint8


def test_map_norm_flat_is_zero_and_range_is_unit():
    maps = np.stack([np.full((4, 4), 3.0), RNG.normal(size=(4, 4)) * 1e6, np.zeros((4, 4))])
    out = render.normalize(maps, "map")
    assert (out[0] == 0).all() and (out[2] == 0).all()
    assert out[1].min() == 0.0 and out[1].max() == 1.0
    assert np.isfinite(out).all()


def test_layer_norm_uses_one_scale():
    maps = np.stack([np.zeros((2, 2)), np.full((2, 2), 2.0), np.full((2, 2), 4.0)])
    out = render.normalize(maps, "layer")
    assert out[:, 0, 0].tolist() == [0.0, 0.5, 1.0]


def test_normalize_extreme_finite_values_stay_finite():
    maps = np.array([[[-3e38, 3e38], [0.0, 1.0]]], np.float32)
    for mode in ("map", "layer", "standardize"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            assert np.isfinite(render.normalize(maps, mode)).all()


def test_normalize_unknown_mode():
    with pytest.raises(UnknownNameError, match="standardize"):
        render.normalize(np.zeros((1, 2, 2)), "zscore")


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    img = render.tile(torch.rand(4, 3, 3, requires_grad=True), cols=2)
    assert img.shape == (7, 7)


# ---------------------------------------------------------------- overlays


@pytest.mark.parametrize(
    "image",
    [
        np.random.rand(28, 28),
        np.random.rand(1, 28, 40),
        np.random.rand(3, 30, 45),
        np.random.rand(30, 45, 3),
        (np.random.rand(17, 9, 3) * 255).astype(np.uint8),
    ],
    ids=["gray-hw", "gray-chw-nonsquare", "rgb-chw", "rgb-hwc", "rgb-uint8"],
)
def test_overlay_image_has_input_size(image):
    out = render.overlay_image(image, np.random.rand(5, 7))
    hw = image.shape[:2] if image.shape[-1] == 3 or image.ndim == 2 else image.shape[1:]
    assert out.shape == (*hw, 3) and out.dtype == np.uint8


def test_overlay_image_blends_bilinearly():
    image = np.zeros((8, 8))
    m = np.zeros((2, 2))
    m[0, 0] = 1.0
    out = render.overlay_image(image, m, alpha=1.0, cmap="gray")
    assert out[0, 0, 0] == 255 and out[-1, -1, 0] == 0
    assert 0 < out[3, 3, 0] < 255  # interpolated, not nearest
    flat = render.overlay_image(np.ones((4, 4)), np.full((2, 2), 5.0), alpha=0.5, cmap="gray")
    assert (flat == 128).all()  # flat map -> 0 -> black at half opacity over white


def test_overlay_figure_panels_are_input_sized():
    fig = render.overlay(np.random.rand(3, 20, 30), np.random.rand(1, 6, 9, 9), cols=3)
    arr = fig.axes[0].images[0].get_array()
    assert arr.shape[:2] == (2 * 20 + 1, 3 * 30 + 2)
    _draw(fig)


def test_pair_prints_zero_similarity():
    fig = render.pair(np.random.rand(28, 28), np.random.rand(11, 11), np.zeros((11, 11)), 0.0)
    assert "similarity 0.00" in [t.get_text() for t in fig.texts]
    _draw(fig)
    with pytest.raises(ShapeError):
        render.pair(np.random.rand(28, 28), np.random.rand(11, 11), np.random.rand(5, 5))


# ---------------------------------------------------------------- kernels / matrices


def test_kernel_colours_are_centred_on_zero():
    w = np.random.randn(8, 2, 3, 3)
    w[0, 1] = 0.0
    w[1, 1, 0, 0] = 5.0
    fig = render.kernels(w, in_channel=1)
    im = fig.axes[0].images[0]
    assert im.norm.vmin == -im.norm.vmax == -5.0
    r, g, b, _ = im.cmap(im.norm(0.0))
    assert min(r, g, b) > 0.99  # a zero weight is white in bwr
    assert fig.axes[0].texts  # 3x3 kernels are annotated by default
    _draw(fig)


@pytest.mark.parametrize("shape", [(4, 3, 1, 1), (2, 1, 11, 11), (100, 1, 3, 3)])
def test_kernels_any_size(shape):
    fig = render.kernels(np.random.randn(*shape))
    assert fig.axes[0].images
    _draw(fig)


def test_kernels_all_zero_and_bad_channel():
    _draw(render.kernels(np.zeros((4, 1, 3, 3))))
    with pytest.raises(ShapeError, match="in_channel"):
        render.kernels(np.zeros((4, 1, 3, 3)), in_channel=2)


def test_similarity_matrix_clusters_planted_group():
    c = 30
    rng = np.random.default_rng(1)
    s = rng.random((c, c)) * 0.3
    group = [3, 11, 19, 27]
    s[np.ix_(group, group)] = 0.95
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    order = render.cluster_order(s).tolist()
    pos = sorted(order.index(g) for g in group)
    assert pos[-1] - pos[0] == len(group) - 1
    fig = render.similarity_matrix(s, groups=[group])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), s[np.ix_(order, order)])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [str(i) for i in order]  # ticks show the original channel numbers
    _draw(fig)
    fig = render.similarity_matrix(s, order=None)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:3] == ["0", "1", "2"]
    _close(fig)


def test_confusion_counts_and_row_normalised_colours():
    cm = np.array([[8, 2], [0, 0]])
    fig = render.confusion(cm, ["a", "a very long class name that needs shortening"])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.8, 0.2], [0.0, 0.0]])
    assert [t.get_text() for t in ax.texts] == ["8", "2", "0", "0"]
    assert all(len(t.get_text()) <= 18 for t in ax.get_xticklabels())
    _draw(fig)


# ---------------------------------------------------------------- curves


def test_history_and_similarity_vs_loss():
    h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "acc": [0.5, 0.8]}
    fig = render.history(h)
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "loss"]
    _draw(fig)
    fig = render.history({"loss": [1.0]})
    assert len(fig.axes) == 1
    _close(fig)
    with pytest.raises(ConvscopeError, match="keys: foo"):
        render.history({"foo": [1]})
    with pytest.raises(ConvscopeError, match="keys: loss, val_loss, acc"):
        render.similarity_vs_loss(h)
    h["similarity/conv2d_1"] = [0.5, 0.4]
    h["similarity/conv2d_1/std"] = [0.1, 0.1]
    fig = render.similarity_vs_loss(h)
    assert len(fig.axes) == 2  # twin axes
    assert fig.axes[1].get_ylabel() == "val_loss"
    assert fig.axes[0].collections  # the std band
    _draw(fig)


# ---------------------------------------------------------------- class figures


def test_predictions_grid_groups_by_prediction_and_marks_errors():
    images = np.stack([np.full((6, 6), k / 10) for k in range(10)])
    pred = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    true = np.array([0, 0, 1, 1, 2, 2, 1, 1, 2, 0])
    fig = render.predictions_grid(images, pred, true, per_class=4, class_names=["x", "y", "z"])
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and len(ax.collections[0].get_paths()) == 1
    assert [t.get_text() for t in ax.texts] == ["y"]
    img = ax.images[0].get_array()
    gap = 1
    # row 0 (pred 0): images 0, 1, 6, 9 in order
    assert img[0, 0, 0] == 0 and img[0, 3 * (6 + gap), 0] == round(0.9 * 255)
    _draw(fig)


def test_class_ranking_orders_by_distance():
    d = np.array([[0, 3, 1], [3, 0, 2], [1, 2, 0]], float)
    ex = np.stack([np.full((1, 8, 8), v) for v in (0.0, 0.5, 1.0)])
    fig = render.class_ranking(d, ex, ["a", "b", "c"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:3] == ["a\nquery", "c\n1.000", "b\n3.000"]
    _draw(fig)
    with pytest.raises(ShapeError):
        render.class_ranking(d, ex[:2])


def test_samples_grid_marks_wrong_prediction():
    fig = render.samples_grid(
        np.random.rand(2, 3, 16, 16),
        np.random.rand(2, 4, 7, 7),
        [0, 1],
        [0, 0],
        class_names=["cat", "an extraordinarily long class name"],
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[1].startswith("predict: cat\nactual: an extraordin")
    colors = [ax.title.get_color() for ax in fig.axes if ax.get_title()]
    assert colors[0] == "black" and colors[1] != "black"
    _draw(fig)


def test_belt_skips_dense_layers():
    maps = {"conv": np.random.rand(2, 40, 9, 9), "dense": np.random.rand(2, 10)}
    with pytest.warns(UserWarning, match="dense"):
        fig = render.belt(maps, image_index=1, max_per_row=16)
    assert len(fig.axes) == 1
    assert fig.axes[0].images[0].get_array().shape[:2] == (3 * 10 - 1, 16 * 10 - 1)
    _draw(fig)
    with pytest.raises(ConvscopeError), pytest.warns(UserWarning):
        render.belt({"dense": np.random.rand(2, 10)})


def test_mosaic_highlight_and_errors():
    fig = render.mosaic(np.random.rand(1, 12, 5, 5), highlight=[2, 7])
    assert len(fig.axes[0].collections[0].get_paths()) == 2
    _draw(fig)
    with pytest.raises(ConvscopeError, match="out of range"):
        render.mosaic(np.random.rand(4, 5, 5), highlight=[9])
    with pytest.raises(ShapeError, match="image_index"):
        render.mosaic(np.random.rand(2, 4, 5, 5), image_index=2)
    with pytest.raises(ShapeError, match="dense"):
        render.mosaic(np.random.rand(2, 10))


# ---------------------------------------------------------------- edge cases, every figure

EDGE = {
    "1 channel": (1, 7, 7),
    "1024 channels": (1024, 3, 3),
    "1x1 maps": (16, 1, 1),
    "400x400": (2, 400, 400),
}


@pytest.mark.parametrize("case", list(EDGE))
def test_every_map_figure_renders_edge_cases(case):
    c, h, w = EDGE[case]
    maps = RNG.random((2, c, h, w)).astype(np.float32)
    maps[0, 0] = 0.0  # an all-zero map
    maps[1, -1] = 2.5  # a flat map
    image = RNG.random((3, 32, 24))
    figs = [
        render.mosaic(maps, norm="map"),
        render.mosaic(maps, norm="standardize", image_index=1),
        render.mosaic(maps, norm="layer", highlight=[0]),
        render.belt({"layer": maps}),
        render.samples_grid(RNG.random((2, 1, 20, 20)), maps[:, :64], [0, 1], [1, 1]),
        render.overlay(image, maps[:, :256], image_index=1),
        render.pair(image, maps[0, 0], maps[1, -1], similarity=0.5),
        render.kernels(maps[:, : min(c, 3)].transpose(1, 0, 2, 3)),
    ]
    if c > 1:
        s = RNG.random((min(c, 256), min(c, 256)))
        figs.append(render.similarity_matrix((s + s.T) / 2))
    for fig in figs:
        px = _draw(fig)
        assert px.std() > 0  # something was drawn


def test_to_uint8_and_save(tmp_path):
    fig = render.mosaic(np.random.rand(4, 5, 5))
    px = render.to_uint8(fig)
    w, h = fig.get_size_inches() * fig.dpi
    assert abs(px.shape[0] - h) <= 1 and abs(px.shape[1] - w) <= 1 and px.shape[2] == 3
    path = render.save(fig, tmp_path / "m.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    _close(fig)


def test_import_convscope_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, convscope; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_label_inputs_follow_the_one_hot_policy():
    """Labels go through convscope.validation.as_labels: one-hot rows become indices,
    scores are refused with the argmax fix, and counts must match the images."""
    images = RNG.random((4, 1, 8, 8))
    maps = RNG.random((4, 3, 5, 5))
    one_hot = np.eye(3)[[0, 1, 2, 1]]
    fig = render.samples_grid(images, maps, one_hot, [0, 1, 2, 2])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[3] == "predict: 2\nactual: 1"
    scores = RNG.random((4, 3))
    with pytest.raises(ShapeError, match=r"argmax\(1\)"):
        render.predictions_grid(images, scores, [0, 1, 2, 1])
    with pytest.raises(ShapeError, match=r"labels must have shape \(4,\)"):
        render.samples_grid(images, maps, [0, 1, 2])
    with pytest.raises(ConvscopeError, match="integer class indices"):
        render.predictions_grid(images, [0.5, 1, 2, 1], [0, 1, 2, 1])
    with pytest.raises(ConvscopeError, match="per_class must be a whole number >= 1"):
        render.predictions_grid(images, [0, 1, 2, 1], [0, 1, 2, 1], per_class=0)
    with pytest.raises(ConvscopeError, match=r"alpha must be a finite number in \[0.0, 1.0\]"):
        render.overlay_image(images[0], maps[0, 0], alpha=1.5)
