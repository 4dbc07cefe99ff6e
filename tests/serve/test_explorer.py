"""The explorer's state and payloads, checked against the analysis core by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import convscope as cs
from convscope.report import sections as S
from convscope.serve import RequestError
from convscope.serve import mapviews as M
from convscope.serve import views as V
from convscope.serve.cache import LRUCache
from convscope.serve.ids import index
from convscope.serve.pixels import tiles

from .conftest import explorer_for


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 50)), max_size=60),
       st.integers(1, 200))  # fmt: skip
@settings(max_examples=60, deadline=None)
def test_lru_cache_stays_within_its_bytes_and_keeps_the_latest(puts, bound):
    cache = LRUCache(bound)
    for key, size in puts:
        cache.put(key, b"x" * size)
        assert cache.bytes <= bound
        assert cache.bytes == sum(len(cache.get(k)) for k in list(cache._items))
    if puts and puts[-1][1] <= bound:
        assert puts[-1][0] in cache


@given(st.text(max_size=12))
def test_ids_take_digits_in_range_only(text):
    try:
        value = index(text, 10, "thing")
    except RequestError as exc:
        assert exc.status in (400, 404)
        return
    assert (
        text.isascii()
        and text.isdigit()
        and 0 <= value < 10
        and str(value) == text.lstrip("0")
        or text == "0" * len(text)
    )


def test_tiles_put_channel_k_where_the_page_looks_for_it():
    rgb = np.zeros((5, 3, 4, 3), np.uint8)
    for k in range(5):
        rgb[k] = k + 1
    canvas = tiles(rgb, cols=2, gap=1)
    for k in range(5):
        y, x = k // 2 * (3 + 1), k % 2 * (4 + 1)  # the arithmetic of layers.js
        assert (canvas[y : y + 3, x : x + 4] == k + 1).all()
    assert (canvas[3, :] == 255).all() and (canvas[:, 4] == 255).all()  # white gaps


def test_maps_and_mosaic_stats_are_the_captured_maps(untrained, mnist_tiny):
    ref = untrained.ref("split", "7")
    expected = cs.capture(untrained.model, mnist_tiny.x_test[7:8], layers=["conv2d_1"])["conv2d_1"][
        0
    ]
    np.testing.assert_array_equal(untrained.maps(ref)["conv2d_1"], expected)
    m = M.mosaic(untrained, ref, "2", "layer")
    assert m["name"] == "conv2d_1" and (m["channels"], m["height"], m["width"]) == (64, 11, 11)
    np.testing.assert_allclose(m["max"], expected.max(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(m["min"], expected.min(axis=(1, 2)), atol=1e-6)
    assert m["layer_max"] == pytest.approx(float(expected.max()))
    untrained.maps(ref)
    assert untrained.captures.hits >= 2  # the second and third look-ups were cached


def test_top5_are_the_softmax_of_the_logits(untrained, mnist_tiny):
    info = V.image_info(untrained, untrained.ref("split", 3))
    model = untrained.model.eval()  # capture runs in eval mode (no dropout)
    logits = model(torch.from_numpy(mnist_tiny.x_test[3:4])).detach().numpy()[0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = np.argsort(-probs)[:5]
    assert [k for k, _ in info["top5"]] == top.tolist()
    np.testing.assert_allclose([p for _, p in info["top5"]], probs[top], rtol=1e-5)
    assert info["label"] == int(mnist_tiny.y_test[3]) and info["prediction"] == int(top[0])


def test_image_filters_follow_the_evaluation(untrained, mnist_tiny):
    done = untrained.analysis().evaluation
    y = mnist_tiny.y_test
    wrong = V.images(untrained, wrong=True)
    assert wrong["total"] == int((done.predictions != y).sum())
    true, pred = int(y[0]), int(done.predictions[0])
    cell = V.images(untrained, true=str(true), pred=str(pred))
    assert cell["total"] == int(done.confusion[true, pred])
    assert all(i["label"] == true and i["prediction"] == pred for i in cell["items"])
    by_class = V.images(untrained, cls="4", limit="3", offset="2")
    assert [i["index"] for i in by_class["items"]] == np.flatnonzero(y == 4)[2:5].tolist()


def test_similarity_is_the_report_sections_matrix(untrained):
    payload = M.similarity(untrained, "2", "multiply")
    samples = untrained.analysis().samples["conv2d_1"]
    assert samples.shape[0] == 8
    expected = cs.similarity.pairwise(samples, metric="multiply")
    np.testing.assert_allclose(payload["matrix"], expected, atol=1e-5)
    assert sorted(payload["order"]) == list(range(64))
    section = S.similarity.compute({"conv2d_1": samples}, {"conv2d_1": samples[:1]},
                                   untrained.x[0], probe_index=0, metric="multiply", split="test")  # fmt: skip
    assert payload["mean"] == pytest.approx(float(section.layers[0].per_image.mean()))


def test_pair_counts_the_cells_the_multiply_metric_counts(untrained):
    ref = untrained.ref("split", 1)
    p = M.pair(untrained, ref, "2", "3", "9", "multiply")
    maps = untrained.maps(ref)["conv2d_1"]
    _, _, mask = cs.render.multiply_parts(maps[3], maps[9])
    assert p["counted"] == int(mask.sum()) and p["cells"] == 121
    assert p["value"] == pytest.approx(cs.similarity.pairwise(maps[None, [3, 9]])[0, 1])
    assert p["value"] == pytest.approx(mask.mean())  # seed 000: the fraction of counted cells


def test_channel_view_lists_similar_channels_firing_and_exemplars(untrained, mnist_tiny):
    ref = untrained.ref("split", 0)
    c = M.channel(untrained, ref, "2", "5", "multiply")
    matrix = np.asarray(M.similarity(untrained, "2", "multiply")["matrix"])
    most = [e["channel"] for e in c["similar"]["most"]]
    left_out = set(c["similar"]["left_out"])
    candidates = [k for k in range(64) if k != 5 and k not in left_out]
    assert most == sorted(candidates, key=lambda k: -matrix[5, k])[:5]
    assert 5 not in most and not left_out & set(most)
    # firing: the map fires when its mean is above the channel's own level on the first images
    level = c["firing"]["level"]
    means = cs.capture(untrained.model, mnist_tiny.x_test, layers=["conv2d_1"])["conv2d_1"][
        :, 5
    ].mean(axis=(1, 2))
    for k in range(10):
        of_class = mnist_tiny.y_test == k
        assert c["firing"]["rates"][k] == pytest.approx((means[of_class] > level).mean(), abs=1e-6)
    top = [e["value"] for e in c["exemplars"]]
    maxima = cs.capture(untrained.model, mnist_tiny.x_test, layers=["conv2d_1"])["conv2d_1"][
        :, 5
    ].max(axis=(1, 2))
    np.testing.assert_allclose(top, np.sort(maxima)[::-1][:4], rtol=1e-5)


def test_classes_payload_is_the_report_firing_section(untrained):
    payload = V.classes(untrained)["firing"]
    section = S.firing.compute(untrained.analysis().firing)
    assert payload["distance"] == section.to_json()["firing"]["distance"]
    assert payload["layer"] == "flatten" and len(payload["rates"]) == 10


def test_layers_without_maps_and_out_of_range_ids_are_refused(untrained):
    with pytest.raises(RequestError, match="has no") as bad:
        M.mosaic(untrained, untrained.ref("split", 0), "4", "map")  # flatten
    assert bad.value.status == 400
    with pytest.raises(RequestError) as missing:
        untrained.ref("split", "120")  # the split holds 120 images
    assert missing.value.status == 404
    with pytest.raises(RequestError):
        M.channel(untrained, untrained.ref("split", 0), "2", "64", "multiply")


def test_uploads_are_scored_like_split_images(untrained, mnist_tiny):
    from .conftest import png_bytes

    pixels = np.round(mnist_tiny.x_test[11, 0] * 255).astype(np.uint8)
    upload = untrained.add_upload(png_bytes(pixels), "eleven.png")
    np.testing.assert_allclose(upload.image, mnist_tiny.x_test[11], atol=1 / 255 + 1e-6)
    a = V.image_info(untrained, untrained.ref("upload", upload.id))
    b = V.image_info(untrained, untrained.ref("split", 11))
    assert a["prediction"] == b["prediction"] and a["name"] == "eleven.png"


def test_training_payload_is_the_report_training_section(tracked_run, mnist_tiny):
    model, _ = cs.models.load(tracked_run)
    ex = explorer_for(model, mnist_tiny, runs=[tracked_run], model_run=tracked_run)
    (run,) = V.training(ex)["runs"]
    history = cs.runfolder.RunFolder(tracked_run).history()
    assert run["epochs"] == 2 and run["status"] == "complete"
    assert run["training"]["history"]["val_loss"] == pytest.approx(history["val_loss"])
    assert run["training"]["epoch_maps"]["layer"] == "conv2d_1"
    assert run["training"]["epoch_maps"]["epochs"] == [1, 2]


def test_new_weights_in_the_run_are_picked_up(tracked_run, mnist_tiny, tmp_path):
    import shutil

    run = tmp_path / "live"
    shutil.copytree(tracked_run, run)
    model, _ = cs.models.load(run)
    ex = explorer_for(model, mnist_tiny, runs=[run], model_run=run)
    before = ex.maps(ex.ref("split", 0))["conv2d"].copy()
    assert not ex.reload_if_changed()
    torch.manual_seed(1)
    other = cs.models.build("mnist_convnet")
    cs.models.save_model(other, run / cs.runfolder.RunFolder.MODEL, dataset="mnist5k")
    assert ex.reload_if_changed() and ex.generation == 1
    after = ex.maps(ex.ref("split", 0))["conv2d"]
    assert not np.allclose(before, after)
    np.testing.assert_allclose(
        after, cs.capture(other, mnist_tiny.x_test[:1], layers=["conv2d"])["conv2d"][0], atol=1e-6
    )


@pytest.mark.parametrize("kind", ["grey", "rgba", "sixteen", "jpeg-rgb", "palette"])
def test_uploads_decode_as_read_images_reads_the_same_file(kind, tmp_path):
    import io

    from PIL import Image

    from convscope.serve.uploads import decode_upload

    rng = np.random.default_rng(0)
    if kind == "grey":
        img = Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8))
    elif kind == "rgba":
        img = Image.fromarray(rng.integers(0, 256, (20, 20, 4), dtype=np.uint8), "RGBA")
    elif kind == "sixteen":
        img = Image.fromarray(rng.integers(0, 65536, (20, 20), dtype=np.uint16))
    elif kind == "palette":
        img = Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).convert("P")
    else:
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if kind.startswith("jpeg") else "PNG")
    path = tmp_path / "image"
    path.write_bytes(buf.getvalue())
    for shape in ((1, 28, 28), (3, 32, 32)):
        expected = cs.data.read_images([path], shape)[0]
        np.testing.assert_array_equal(decode_upload(buf.getvalue(), shape), expected)


@pytest.mark.parametrize("backend", ["keras", "onnx"])
def test_the_explorer_on_keras_and_onnx_twins_answers_as_on_torch(backend, mnist_tiny, tmp_path):
    """The same weights as a Keras model and as an ONNX file: the explorer's views agree."""
    from convscope.export import export_onnx
    from convscope.keras import from_zoo

    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet").eval()
    twin = from_zoo(model) if backend == "keras" else cs.models.load(
        export_onnx(model, tmp_path / "m.onnx"))[0]  # fmt: skip
    ours, theirs = explorer_for(model, mnist_tiny), explorer_for(twin, mnist_tiny)
    ref_a, ref_b = ours.ref("split", 4), theirs.ref("split", 4)
    top_a, top_b = V.image_info(ours, ref_a)["top5"], V.image_info(theirs, ref_b)["top5"]
    assert [k for k, _ in top_a] == [k for k, _ in top_b]
    np.testing.assert_allclose([p for _, p in top_a], [p for _, p in top_b], atol=1e-4)
    a, b = M.mosaic(ours, ref_a, "2", "layer"), M.mosaic(theirs, ref_b, "2", "layer")
    assert (a["name"], a["channels"], a["height"]) == (b["name"], b["channels"], b["height"])
    np.testing.assert_allclose(a["max"], b["max"], atol=1e-4)
    sim_a, sim_b = M.similarity(ours, "2", "multiply"), M.similarity(theirs, "2", "multiply")
    assert sim_b["mean"] == pytest.approx(sim_a["mean"], abs=1e-3)
    channel = M.channel(theirs, ref_b, "2", "5", "multiply")
    assert len(channel["similar"]["most"]) == 5 and len(channel["firing"]["rates"]) == 10
    assert V.classes(theirs)["firing"]["layer"] == V.classes(ours)["firing"]["layer"]
