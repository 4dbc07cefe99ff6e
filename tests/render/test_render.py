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


# ---------------------------------------------------------------- helpers for pixel figures


def _canvas(fig) -> np.ndarray:
    """The one image a pixel figure is made of (uint8 RGBA)."""
    assert len(fig.images) == 1
    return np.asarray(fig.images[0].get_array())


def _has_color(img: np.ndarray, rgb, at_least: int = 1) -> bool:
    return int(np.all(img[..., :3] == np.asarray(rgb[:3]), axis=-1).sum()) >= at_least


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


def test_overlay_uses_one_scale_per_layer_by_default():
    """keract (seed 000) scales a layer's maps together: a near-silent map stays dark."""
    from convscope.render.overlays import overlay_panels

    maps = np.stack([np.linspace(0, 0.05, 16).reshape(4, 4), np.linspace(0, 1, 16).reshape(4, 4)])
    layer = overlay_panels(np.zeros((8, 8)), maps, alpha=1.0, cmap="gray")
    per_map = overlay_panels(np.zeros((8, 8)), maps, alpha=1.0, cmap="gray", norm="map")
    assert layer[0, ..., :3].max() < 30 and layer[1, ..., :3].max() == 255  # silent stays dark
    assert per_map[0, ..., :3].max() == 255  # per map, it looks as hot as the strong one
    fig = render.overlay(np.zeros((8, 8)), maps)
    assert "one colour scale for the layer" in fig.texts[0].get_text()
    with pytest.raises(ConvscopeError, match="'layer'"):
        render.overlay(np.zeros((8, 8)), maps, norm="standardize")
    _draw(fig)


def test_overlay_default_colormap_is_perceptual_not_jet():
    import inspect

    for fn in (render.overlay, render.overlay_image, render.mosaic, render.belt):
        cmap = inspect.signature(fn).parameters["cmap"].default
        assert cmap in ("inferno", "viridis", "magma", "cividis"), (fn.__name__, cmap)


def test_pair_explains_the_multiply_metric():
    """The mask panel counts exactly what seed 000's similarity_multiply counts."""
    from convscope.render.overlays import multiply_parts
    from tests.seeds import similarity_multiply

    rng = np.random.default_rng(3)
    a, b = rng.random((11, 11)), rng.random((11, 11))
    _norm, product, mask = multiply_parts(a, b)
    assert mask.mean() == pytest.approx(similarity_multiply(a, b), abs=1e-12)
    fig = render.pair(np.random.rand(28, 28), a, b, names=("#3", "#17"), layer="conv2d_1",
                      image_label="image 7", rank=(1, 496))  # fmt: skip
    title = fig.texts[0].get_text()
    assert title.startswith("conv2d_1 · image 7 · multiply similarity")
    assert title.endswith("top 1 of 496 pairs")
    assert f"{mask.mean():.2f}" in title  # the mask's fraction is the similarity
    _draw(fig)
    fig = render.pair(np.random.rand(28, 28), a, np.zeros((11, 11)), 0.0, rank=(490, 496))
    assert "multiply similarity 0.00" in fig.texts[0].get_text()
    assert fig.texts[0].get_text().endswith("bottom 7 of 496 pairs")
    _draw(fig)
    with pytest.raises(ShapeError):
        render.pair(np.random.rand(28, 28), np.random.rand(11, 11), np.random.rand(5, 5))


# ---------------------------------------------------------------- kernels / matrices


def test_kernel_colours_are_centred_on_zero():
    from convscope.render.weights import _kernel_cells

    w = np.random.randn(8, 2, 3, 3)
    w[0, 1] = 0.0
    w[1, 1, 0, 0] = 5.0
    w[2, 1, 0, 0] = -5.0
    cells = _kernel_cells(w[:, 1], 1, 5.0, "RdBu_r")
    zero, top, bottom = cells[0, 0, 0, :3], cells[1, 0, 0, :3], cells[2, 0, 0, :3]
    assert zero.min() > 240  # 0 is (nearly) white
    assert top[0] > top[2] and bottom[2] > bottom[0]  # +max red, -max blue
    fig = render.kernels(w, in_channel=1)
    assert fig.texts[0].get_text() == "kernels 8×2×3×3 · input channel 1 of 2"
    _draw(fig)


def test_rgb_kernels_are_drawn_as_rgb_patches():
    from convscope.render.weights import _kernel_cells

    w = np.zeros((2, 3, 1, 1))
    w[0, 0] = 1.0  # a red filter
    w[1, 2] = -1.0  # an anti-blue filter
    cells = _kernel_cells(w, "rgb", 1.0, "RdBu_r")
    assert cells[0, 0, 0, :3].tolist() == [255, 128, 128]
    assert cells[1, 0, 0, :3].tolist() == [128, 128, 0]
    fig = render.kernels(np.random.randn(16, 3, 5, 5))
    assert "RGB patches" in fig.texts[0].get_text() and "16×3×5×5" in fig.texts[0].get_text()
    _draw(fig)
    with pytest.raises(ShapeError, match="3 input channels"):
        render.kernels(np.zeros((4, 1, 3, 3)), in_channel="rgb")


@pytest.mark.parametrize("shape", [(4, 3, 1, 1), (2, 1, 11, 11), (100, 1, 3, 3)])
def test_kernels_any_size(shape):
    _draw(render.kernels(np.random.randn(*shape)))


def test_kernels_all_zero_and_bad_channel():
    _draw(render.kernels(np.zeros((4, 1, 3, 3))))
    with pytest.raises(ShapeError, match="in_channel"):
        render.kernels(np.zeros((4, 1, 3, 3)), in_channel=2)


def test_similarity_matrix_clusters_masks_the_diagonal_and_marks_excluded():
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
    shown = render.display_order(s, excluded=[5])
    assert shown[-1] == 5 and sorted(shown.tolist()) == list(range(c))
    live = [k for k in shown[:-1]]
    pos = sorted(live.index(g) for g in group)
    assert pos[-1] - pos[0] == len(group) - 1  # the group still sits together
    fig = render.similarity_matrix(s, groups=[group], excluded=[5], metric="multiply")
    img = _canvas(fig)
    from convscope.render import _pixels
    from convscope.render._heat import MASKED_RGBA

    assert _has_color(img, _pixels.HATCH_DARK)  # the excluded row and column
    assert _has_color(img, MASKED_RGBA, at_least=c)  # the masked diagonal
    assert _has_color(img, _pixels.rgba(render.OKABE_ITO[5]))  # the group's frame
    # the diagonal (1.0) does not set the colour scale: the top colour is the group's 0.95
    top = render.similarity_matrix(s, order=None, diagonal=False)
    assert "† 1" not in top.texts[0].get_text()
    _draw(fig)
    _draw(top)


def test_distance_matrix_prints_values_in_the_tables_units():
    d = np.array([[0, 0.3, 0.1], [0.3, 0, 0.2], [0.1, 0.2, 0]])
    fig = render.distance_matrix(d, ["a", "b", "c"], unit="mean |Δ firing rate| (L1)")
    assert (
        fig.texts[0].get_text()
        == "distances between classes (mean |Δ firing rate| (L1)); diagonal hidden"
    )
    from convscope.render._heat import MASKED_RGBA

    assert _has_color(_canvas(fig), MASKED_RGBA, at_least=3)
    _draw(fig)


def test_confusion_colours_by_row_fraction():
    import matplotlib

    cm = np.array([[8, 2], [0, 0]])
    fig = render.confusion(cm, ["a", "a very long class name that needs shortening"])
    img = _canvas(fig)
    lut = matplotlib.colormaps["Blues"]
    for fraction in (0.8, 0.2, 0.0):
        rgb = lut(fraction, bytes=True)[:3]
        assert _has_color(img, rgb, at_least=100), fraction
    _draw(fig)


# ---------------------------------------------------------------- curves


def test_history_and_similarity_vs_loss():
    h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "acc": [0.5, 0.8]}
    fig = render.history(h)
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "loss"]
    colors = {line.get_color() for ax in fig.axes for line in ax.get_lines()}
    assert colors <= {render.OKABE_ITO[0], render.OKABE_ITO[1]}  # colour-blind safe
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


def _rising_history() -> dict:
    """Two tracked layers: the shallow one falls, the deepest (seed 000's) rises."""
    return {
        "loss": [0.9, 0.6, 0.4, 0.3],
        "val_loss": [0.8, 0.5, 0.35, 0.3],
        "similarity/conv2d": [0.30, 0.25, 0.20, 0.15],
        "similarity/conv2d/std": [0.01] * 4,
        "similarity/conv2d_1": [0.10, 0.12, 0.15, 0.20],
        "similarity/conv2d_1/std": [0.02] * 4,
        "similarity/conv2d_1/excluded": [2.0, 2.0, 3.0, 3.0],
        "similarity": [0.10, 0.12, 0.15, 0.20],
    }


def test_seed_000_chart_and_caption_follow_the_data():
    """A run whose deepest layer's similarity rises gets a caption and title saying so."""
    h = _rising_history()
    caption = render.similarity_caption(h)
    assert caption.startswith(
        "conv2d_1's mean similarity rises (0.100 → 0.200, +100 % over 4 epochs)"
    )
    assert "while val_loss fell" in caption and "Spearman ρ with val_loss −1.00" in caption
    assert "3 dead/flat channels left out" in caption
    assert "conv2d: −50 % over 4 epochs" in caption  # the other layer, honestly
    assert "decorrelate" not in caption
    fig = render.similarity_vs_loss(h)  # default: the deepest tracked layer only
    assert fig.axes[0].get_title() == "conv2d_1 similarity rises 100 % over 4 epochs"
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["conv2d_1: +100 % over 4 epochs, Spearman ρ with val_loss −1.00"]
    fig = render.similarity_vs_loss(h, key="all")  # every layer, each with its own trend
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[0].startswith("conv2d: −50 %") and labels[1].startswith("conv2d_1: +100 %")
    _draw(fig)
    falling = {k: v[::-1] if k.startswith("similarity") else v for k, v in h.items()}
    assert render.similarity_caption(falling, key=None).startswith(
        "conv2d_1's mean similarity falls"
    )


def test_spearman_and_trend_edge_cases():
    from convscope.render.curves import spearman

    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert spearman([1, 2], [1, 2]) is None  # too few epochs
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant
    assert spearman([1, np.nan, 2, 3], [1, 5, 2, 3]) == 1.0  # NaN epochs dropped
    (trend,) = render.similarity_trends({"similarity": [0.2, 0.2, 0.2001]}, key=None)
    assert trend.direction == "stays flat" and trend.rho is None and trend.loss_key is None


# ---------------------------------------------------------------- class figures


def test_predictions_grid_groups_by_prediction_and_marks_errors():
    images = np.stack([np.full((6, 6), k / 10) for k in range(10)])
    pred = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    true = np.array([0, 0, 1, 1, 2, 2, 1, 1, 2, 0])
    fig = render.predictions_grid(images, pred, true, per_class=4, class_names=["x", "y", "z"])
    assert fig.texts[0].get_text().endswith("1 of 10")
    img = _canvas(fig)
    from convscope.render import _pixels

    assert _has_color(img, _pixels.rgba(render.OKABE_ITO[5]))  # one vermillion frame
    # row 0 (pred 0) holds images 0, 1, 6, 9 in order: the grey levels 0, 0.1, 0.6, 0.9
    for level in (0, 26, 153, 230):
        assert _has_color(img, (level, level, level), at_least=36), level
    _draw(fig)


def test_class_ranking_orders_by_distance():
    from convscope.render.classes import ranking_order

    d = np.array([[0, 3, 1], [3, 0, 2], [1, 2, 0]], float)
    assert ranking_order(d).tolist() == [[0, 2, 1], [1, 2, 0], [2, 0, 1]]
    ex = np.stack([np.full((1, 8, 8), v) for v in (0.0, 0.5, 1.0)])
    fig = render.class_ranking(d, ex, ["a", "b", "c"])
    assert fig.texts[0].get_text().startswith("classes ranked by distance")
    _draw(fig)
    with pytest.raises(ShapeError):
        render.class_ranking(d, ex[:2])


def test_examples_row_shows_one_image_per_class():
    fig = render.examples_row(np.random.rand(3, 1, 28, 28), ["cat", "dog", "bird"])
    assert fig.texts[0].get_text() == "one example per class (3 classes)"
    _draw(fig)


def test_samples_grid_marks_wrong_prediction():
    from convscope.render import _pixels

    right = render.samples_grid(np.zeros((2, 3, 16, 16)), np.random.rand(2, 4, 7, 7),
                                [0, 1], [0, 1], class_names=["cat", "an extraordinarily long name"])  # fmt: skip
    wrong = render.samples_grid(np.zeros((2, 3, 16, 16)), np.random.rand(2, 4, 7, 7),
                                [0, 1], [0, 0], class_names=["cat", "an extraordinarily long name"])  # fmt: skip
    vermillion = _pixels.rgba(render.OKABE_ITO[5])
    near = lambda img: np.abs(img[..., :3].astype(int) - np.array(vermillion[:3])).sum(-1) < 60  # noqa: E731
    assert near(_canvas(wrong)).sum() > 20 and near(_canvas(right)).sum() == 0
    _draw(wrong)


def test_belt_titles_give_c_h_w_and_skip_dense_layers():
    maps = {"conv": np.random.rand(2, 40, 9, 9), "dense": np.random.rand(2, 10)}
    with pytest.warns(UserWarning, match="dense"):
        fig = render.belt(maps, image_index=1, max_per_row=16)
    assert fig.texts[-1].get_text() == "skipped (not 4-D maps): dense"
    from convscope.render.maps import _belt_layers

    layers, skipped = _belt_layers(maps, 1, "auto")
    assert [name for name, _c, _m in layers] == ["conv"] and skipped == ["dense"]
    _draw(fig)
    with pytest.raises(ConvscopeError), pytest.warns(UserWarning):
        render.belt({"dense": np.random.rand(2, 10)})


def test_flat_and_dead_maps_are_hatched():
    from convscope.render import _pixels

    maps = np.random.default_rng(0).random((8, 6, 6)).astype(np.float32)
    assert not _has_color(_canvas(render.mosaic(maps)), _pixels.HATCH_DARK)
    maps[3] = 0.0  # dead
    maps[5] = 0.7  # flat
    from convscope.render._layout import flat_channels

    assert flat_channels(maps) == [3, 5]
    fig = render.mosaic(maps)
    assert _has_color(_canvas(fig), _pixels.HATCH_DARK)
    assert fig.texts[0].get_text().endswith("hatched: 2 flat")
    assert "hatched: 1 flat" in render.mosaic(maps, inactive=[3]).texts[0].get_text()
    assert not _has_color(_canvas(render.mosaic(maps, inactive=None)), _pixels.HATCH_DARK)
    for fig in (render.belt({"c": maps[None]}), render.overlay(np.zeros((6, 6)), maps),
                render.samples_grid(np.zeros((1, 6, 6)), maps[None], [0])):  # fmt: skip
        assert _has_color(_canvas(fig), _pixels.HATCH_DARK)
        _draw(fig)


def test_mosaic_highlight_and_errors():
    from convscope.render import _pixels

    fig = render.mosaic(np.random.rand(1, 12, 5, 5), highlight=[2, 7])
    assert _has_color(_canvas(fig), _pixels.rgba(render.OKABE_ITO[5]))
    _draw(fig)
    with pytest.raises(ConvscopeError, match="out of range"):
        render.mosaic(np.random.rand(4, 5, 5), highlight=[9])
    with pytest.raises(ShapeError, match="image_index"):
        render.mosaic(np.random.rand(2, 4, 5, 5), image_index=2)
    with pytest.raises(ShapeError, match="dense"):
        render.mosaic(np.random.rand(2, 10))


def test_mosaic_is_one_image_at_native_resolution():
    """Each map pixel is a whole number of figure pixels: tile k's colours are its own."""
    maps = np.random.default_rng(2).random((256, 26, 26)).astype(np.float32)
    fig = render.mosaic(maps, cols=16)
    img = _canvas(fig)
    assert len(fig.texts) == 1  # only the title is a matplotlib text
    from convscope.render import _fig
    from convscope.render._tiles import to_unit

    tile0 = _fig.colorize(to_unit(maps[:1], "map"), "viridis", rgba=True)[0]
    rows = np.flatnonzero(np.all(img[:, :, :3] == tile0[0, :, :3][:1], axis=-1).any(axis=1))
    found = False
    for y in rows:  # find tile 0 in the canvas, pixel for pixel
        xs = np.flatnonzero(np.all(img[y, :, :3] == tile0[0, 0, :3], axis=-1))
        for x in xs:
            if (
                img[y : y + 26, x : x + 26, :3].shape[:2] == (26, 26)
                and (img[y : y + 26, x : x + 26, :3] == tile0[..., :3]).all()
            ):
                found = True
                break
        if found:
            break
    assert found


def test_maps_over_epochs_strip():
    maps = np.random.default_rng(0).random((3, 16, 11, 11)).astype(np.float32)
    maps[1, 4] = 0.0
    fig = render.maps_over_epochs(maps, [1, 5, 12], values=[0.3, 0.2, 0.1], layer="conv2d_1")
    assert fig.texts[0].get_text().startswith("conv2d_1 · 16 maps 11×11 of one image over training")
    assert fig.texts[0].get_text().endswith("hatched: flat")
    _draw(fig)
    with pytest.raises(ShapeError, match="3 epochs but epochs has 2"):
        render.maps_over_epochs(maps, [1, 2])


# ---------------------------------------------------------------- saving


def test_save_draws_once_and_writes_rgb(tmp_path, monkeypatch):
    from PIL import Image

    fig = render.mosaic(np.random.rand(16, 9, 9))
    draws = []
    original = type(fig).draw
    monkeypatch.setattr(type(fig), "draw", lambda self, r: (draws.append(1), original(self, r))[1])
    path = render.save(fig, tmp_path / "m.png")
    assert len(draws) == 1  # no second draw for a tight bounding box
    with Image.open(path) as im:
        assert im.mode == "RGB"  # opaque: no alpha channel to compress
        w, h = im.size
    assert (w, h) == tuple((fig.get_size_inches() * fig.dpi).round().astype(int))
    import io

    buf = io.BytesIO()
    render.history({"loss": [1.0, 0.5]}).savefig(buf, format="png", transparent=True)
    with Image.open(buf) as im:
        assert im.mode == "RGBA"  # transparency asked for: kept


def test_pixel_figures_scale_with_the_save_dpi_and_vector_formats(tmp_path):
    import io

    from PIL import Image

    fig = render.mosaic(np.random.default_rng(0).random((4, 6, 6)))
    small, big = io.BytesIO(), io.BytesIO()
    fig.savefig(small, format="png")
    fig.savefig(big, format="png", dpi=200)
    a, b = np.asarray(Image.open(small)), np.asarray(Image.open(big))
    assert b.shape[0] == 2 * a.shape[0] and b.shape[1] == 2 * a.shape[1]
    h, w = a.shape[:2]
    assert (a[h // 2, w // 2] == b[h, w]).all() or (a[h // 2, w // 2] == b[h + 1, w + 1]).all()
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    assert 'width="' in svg.getvalue() and "<image" in svg.getvalue()


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
    assert (px == _canvas(fig)[..., :3]).mean() > 0.9  # drawn 1:1 (the title aside)
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
    from convscope.render.maps import _sample_titles
    from convscope.validation import as_labels

    fig = render.samples_grid(images, maps, one_hot, [0, 1, 2, 2])
    titles = _sample_titles(as_labels(one_hot, n=4), np.array([0, 1, 2, 2]), None)
    assert titles[3] == ("predict: 2\nactual: 1", True)
    _draw(fig)
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
