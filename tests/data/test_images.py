"""Images from files: formats, modes, 16 bits, EXIF orientation, resizing, normalising, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convscope import data
from convscope.data import PREPROCESS, ImageReadError, read_image, read_images
from convscope.data.images import resize
from convscope.errors import ShapeError

RNG = np.random.default_rng(0)
PHOTO = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # H=6, W=8


@pytest.mark.parametrize("suffix", ["png", "bmp", "tiff", "webp"])
def test_lossless_formats_read_back_exactly(tmp_path, suffix):
    path = tmp_path / f"photo.{suffix}"
    options = {"lossless": True} if suffix == "webp" else {}
    Image.fromarray(PHOTO).save(path, **options)
    x = read_images([path], (3, 6, 8))
    assert x.shape == (1, 3, 6, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], PHOTO.transpose(2, 0, 1) / np.float32(255))


def test_jpeg_reads_close_to_the_pixels(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 8, dtype=np.uint8), (6, 1))
    Image.fromarray(np.dstack([smooth] * 3)).save(tmp_path / "a.jpg", quality=95)
    x = read_image(tmp_path / "a.jpg", (3, 6, 8))
    assert np.abs(x[0] - smooth / 255).max() < 0.05


def test_grey_and_colour_are_converted_both_ways(tmp_path):
    Image.fromarray(PHOTO[:, :, 0]).save(tmp_path / "grey.png")
    Image.fromarray(PHOTO).save(tmp_path / "rgb.png")
    grey3 = read_image(tmp_path / "grey.png", (3, 6, 8))
    assert np.array_equal(grey3[0], grey3[1]) and np.array_equal(grey3[0], grey3[2])
    np.testing.assert_array_equal(grey3[0], PHOTO[:, :, 0] / np.float32(255))
    luminance = read_image(tmp_path / "rgb.png", (1, 6, 8))[0]
    want = np.asarray(Image.fromarray(PHOTO).convert("L")) / 255.0  # ITU-R 601-2 luma
    np.testing.assert_allclose(luminance, want, atol=1e-6)


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (255, 0, 0, 0)  # transparent: white
    rgba[1, 0] = (0, 0, 0, 128)  # half black over white: mid grey
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    x = read_image(tmp_path / "a.png", (3, 2, 2))
    assert x[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert x[:, 0, 1].tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(x[:, 1, 0], 127 / 255, atol=1 / 255)
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)  # colour 0 is transparent
    p = read_image(tmp_path / "p.png", (3, 1, 2))
    assert p[:, 0, 0].tolist() == [1.0, 1.0, 1.0] and p[:, 0, 1].tolist() == [0.0, 1.0, 0.0]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    x = read_image(tmp_path / "deep.png", (1, 1, 4))
    np.testing.assert_allclose(x[0, 0], values[0] / 65535.0, rtol=1e-6)
    # folder: used to convert to 8 bits by clipping: everything above 255 came back white
    for cls in ("a", "b"):
        (tmp_path / "set" / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(values).save(tmp_path / "set" / cls / f"{k}.png")
    ds = data.load(
        f"folder:{tmp_path / 'set'}", input_shape=(1, 1, 4), val_fraction=0, test_fraction=0
    )
    np.testing.assert_allclose(ds.x_train[0, 0, 0], [0, 1 / 255, 128 / 255, 1.0], atol=1e-6)


def test_exif_orientation_is_respected(tmp_path):
    tall = np.zeros((6, 8), np.uint8)
    tall[0, :] = 255  # a white top row as stored
    img = Image.fromarray(tall)
    exif = img.getexif()
    exif[0x0112] = 6  # the camera was turned: show the stored image rotated 90 degrees clockwise
    img.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    x = read_image(tmp_path / "phone.jpg", (1, 8, 6))[0]  # upright: 8 high, 6 wide
    assert x[:, -1].min() > 0.9 and x[:, 0].max() < 0.1  # the stored top row is now on the right


def test_resize_modes_fit_crop_and_pad():
    wide = np.arange(8, dtype=np.float32).reshape(1, 8, 1).repeat(4, axis=0)  # 4 x 8
    assert resize(wide, 2, 2, "fit").shape == (2, 2, 1)
    crop = resize(wide, 4, 4, "crop")[:, :, 0]  # the centre 4 columns, no scaling needed
    np.testing.assert_array_equal(crop, wide[:, 2:6, 0])
    pad = resize(wide, 8, 8, "pad", pad_value=-1.0)[:, :, 0]
    assert (pad[:2] == -1).all() and (pad[-2:] == -1).all()  # letterboxed top and bottom
    np.testing.assert_array_equal(pad[2:6], wide[:, :, 0])


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), out_h=st.integers(1, 30),
    out_w=st.integers(1, 30), mode=st.sampled_from(["fit", "crop", "pad"]),
)  # fmt: skip
def test_every_resize_gives_the_model_size_and_keeps_the_value_range(h, w, out_h, out_w, mode):
    array = np.random.default_rng(h * 41 + w).random((h, w, 2), dtype=np.float32)
    out = resize(array, out_h, out_w, mode)
    assert out.shape == (out_h, out_w, 2)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


def test_imagenet_normalisation_and_bad_mean_std(tmp_path):
    Image.fromarray(PHOTO).save(tmp_path / "a.png")
    mean, std = PREPROCESS["imagenet"]
    x = read_image(tmp_path / "a.png", (3, 6, 8), mean=mean, std=std)
    raw = PHOTO.transpose(2, 0, 1) / np.float32(255)
    want = (raw - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[
        :, None, None
    ]
    np.testing.assert_allclose(x, want, rtol=1e-6)
    with pytest.raises(ShapeError, match="mean has 2 values for a model with 3 channels"):
        read_image(tmp_path / "a.png", (3, 6, 8), mean=[0.5, 0.5])


def test_bad_files_are_each_named_with_their_reason(tmp_path):
    Image.fromarray(PHOTO).save(tmp_path / "good.png")
    whole = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "folder").mkdir()
    Image.new("LAB", (8, 6)).save(tmp_path / "lab.tif")
    paths = ["good.png", "truncated.png", "notes.txt", "folder", "lab.tif", "missing.png"]
    with pytest.raises(ImageReadError) as err:
        read_images([tmp_path / p for p in paths], (3, 6, 8))
    lines = str(err.value).splitlines()
    assert len(lines) == 5 and len(err.value.errors) == 5  # one line per bad file
    reasons = dict(err.value.errors)
    assert "corrupt or truncated" in reasons[str(tmp_path / "truncated.png")]
    assert "not an image format Pillow reads" in reasons[str(tmp_path / "notes.txt")]
    assert "is a folder" in reasons[str(tmp_path / "folder")]
    assert "LAB image (3 bands) has no rule" in reasons[str(tmp_path / "lab.tif")]
    assert "no such file" in reasons[str(tmp_path / "missing.png")]


def test_four_bands_map_only_where_there_is_a_rule(tmp_path):
    Image.new("RGBA", (8, 6), (10, 20, 30, 255)).save(tmp_path / "four.tif")
    assert read_image(tmp_path / "four.tif", (4, 6, 8)).shape == (4, 6, 8)  # kept as 4 bands
    assert read_image(tmp_path / "four.tif", (3, 6, 8)).shape == (3, 6, 8)  # alpha on white
    Image.fromarray(PHOTO).save(tmp_path / "rgb.png")
    with pytest.raises(
        ImageReadError, match="rgb.png: a RGB image .3 bands. has no rule .* 4 channels"
    ):
        read_image(tmp_path / "rgb.png", (4, 6, 8))
    with pytest.raises(ImageReadError, match="no rule .* 2 channels"):
        read_image(tmp_path / "rgb.png", (2, 6, 8))
