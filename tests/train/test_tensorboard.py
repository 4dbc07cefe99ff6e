"""TensorBoard where users already look: torch fit, the Keras callback, Lightning; every
test reads the event files back and checks them against the run's own numbers."""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import convscope as cs  # noqa: E402

pytest.importorskip("tensorboardX")
from convscope.train.tensorboard import (  # noqa: E402
    TensorBoard,
    read_events,
    read_images,
    read_scalars,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    full = cs.data.load("mnist5k", seed=0, data_dir=tmp_path_factory.mktemp("data"))
    return dataclasses.replace(full, x_train=full.x_train[:256], y_train=full.y_train[:256],
                               x_val=full.x_val[:64], y_val=full.y_val[:64])  # fmt: skip


def test_fit_writes_every_logged_number_and_the_tracked_layer_pictures(data, tmp_path):
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    tracker = cs.train.SimilarityTracker(layers="conv", probe=8)
    board = TensorBoard(tmp_path / "tb", tracker=tracker)
    history = cs.train.fit(model, data, epochs=2, progress=False, callbacks=[tracker, board])
    scalars = read_scalars(tmp_path / "tb")
    for key in (
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "similarity",
        "similarity/conv2d",
        "similarity/conv2d_1",
        "similarity/conv2d_1/std",
        "similarity/conv2d_1/excluded",
    ):
        steps = [s for s, _ in scalars[key]]
        values = [v for _, v in scalars[key]]
        assert steps == [1, 2], key
        np.testing.assert_allclose(values, history.history[key], rtol=1e-6, err_msg=key)
    images = read_images(tmp_path / "tb")
    assert sorted(images) == ["maps/conv2d_1", "similarity_matrix/conv2d_1"]
    for tag, shots in images.items():
        assert [s for s, _ in shots] == [1, 2]
        assert all(
            img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] in (3, 4) for _, img in shots
        )
        assert min(img.shape[0] for _, img in shots) > 100, tag  # a drawn figure, not a thumbnail
    texts = [
        v.tag for e in read_events(tmp_path / "tb") for v in e.summary.value if v.HasField("tensor")
    ]
    assert any(t.startswith("status") for t in texts)


def test_the_mosaic_shows_the_tracked_maps_of_the_first_probe_image(data, tmp_path):
    torch.manual_seed(0)
    model = cs.models.build("mnist_convnet")
    probe = data.x_val[:4]
    board = TensorBoard(tmp_path / "tb", layer="conv2d", probe=probe)
    board.on_train_begin(model, data)
    board.on_epoch_end(0, {"loss": 1.0}, model)
    board.on_train_end(model, {"status": "complete"})
    ((_, shown),) = read_images(tmp_path / "tb")["maps/conv2d"]
    maps = cs.capture(model, probe, layers=["conv2d"])["conv2d"]
    expected = cs.render.to_uint8(cs.render.mosaic(maps, image_index=0, title="conv2d · epoch 1"))
    assert shown.shape[:2] == expected.shape[:2]
    assert np.abs(shown[..., :3].astype(int) - expected.astype(int)).mean() < 1.0


def test_resumed_run_hides_the_interrupted_epochs(data, tmp_path):
    torch.manual_seed(0)
    run, logdir = tmp_path / "run", tmp_path / "tb"
    model = cs.models.build("mnist_convnet")
    cs.train.fit(model, data, epochs=2, out=run, progress=False,
                 callbacks=[TensorBoard(logdir, images=False)])  # fmt: skip
    # epoch 3 was written to TensorBoard but the run died before its checkpoint
    from convscope.train.tensorboard import TensorBoardWriter

    stray = TensorBoardWriter(logdir)
    stray.scalars({"loss": 99.0}, 3)
    stray.close()
    model = cs.models.build("mnist_convnet")
    history = cs.train.fit(model, data, epochs=3, out=run, resume=True, progress=False,
                           callbacks=[TensorBoard(logdir, images=False)])  # fmt: skip
    events = read_events(logdir)
    purges = [e for e in events if e.HasField("session_log") and e.session_log.status == 1]
    assert purges and purges[-1].step == 3  # TensorBoard drops events from step 3 on, then
    last = [(e.step, v.simple_value) for e in events for v in e.summary.value if v.tag == "loss"][
        -1
    ]
    assert last == (3, pytest.approx(history.history["loss"][-1], rel=1e-6))


# Keras' torch backend calls np.array(tensor) internally (numpy 2 notes it); not ours
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_keras_callback_writes_tensorboard(tmp_path):
    pytest.importorskip("keras")
    from convscope.keras import SimilarityCallback, from_zoo

    torch.manual_seed(0)
    twin = from_zoo(cs.models.build("mnist_convnet"))
    twin.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    callback = SimilarityCallback(probe=x[:8], tensorboard=tmp_path / "tb")
    history = twin.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[callback])
    scalars = read_scalars(tmp_path / "tb")
    assert [s for s, _ in scalars["similarity/conv2d_1"]] == [1, 2]
    np.testing.assert_allclose(
        [v for _, v in scalars["similarity"]], history.history["similarity"], rtol=1e-6
    )
    np.testing.assert_allclose([v for _, v in scalars["loss"]], history.history["loss"], rtol=1e-5)
    assert sorted(read_images(tmp_path / "tb")) == ["maps/conv2d_1", "similarity_matrix/conv2d_1"]


class _FakeTrainer:
    """What a Lightning trainer gives a callback: the epoch and the epoch's metrics."""

    def __init__(self):
        self.current_epoch = 0
        self.callback_metrics = {"train_loss": torch.tensor(0.5)}


def test_lightning_callback_with_a_minimal_trainer(tmp_path):
    from convscope.lightning import SimilarityCallback

    torch.manual_seed(0)
    module = cs.models.build("mnist_convnet")
    probe = np.random.default_rng(0).random((6, 1, 28, 28), dtype=np.float32)
    callback = SimilarityCallback(probe=probe, tensorboard=tmp_path / "tb", log_to_trainer=False)
    trainer = _FakeTrainer()
    callback.on_fit_start(trainer, module)
    for epoch in range(2):
        trainer.current_epoch = epoch
        callback.on_train_epoch_end(trainer, module)
    callback.on_fit_end(trainer, module)
    maps = cs.capture(module, probe, layers=["conv2d_1"])
    expected = cs.train.similarity_logs(maps)
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["similarity"] == [(1, pytest.approx(expected["similarity"])),
                                     (2, pytest.approx(expected["similarity"]))]  # fmt: skip
    assert scalars["train_loss"] == [(1, 0.5), (2, 0.5)]
    assert callback.history["similarity/conv2d_1"] == pytest.approx([expected["similarity"]] * 2)


@pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`")  # inside Lightning
def test_lightning_callback_in_a_real_trainer(tmp_path):
    lightning = pytest.importorskip("lightning")
    from convscope.lightning import LIGHTNING, SimilarityCallback

    assert LIGHTNING == "lightning"

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = cs.models.build("mnist_convnet")

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _index):
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((64, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 64))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    callback = SimilarityCallback(probe=x[:8], tensorboard=tmp_path / "tb")
    trainer = lightning.Trainer(max_epochs=2, callbacks=[callback], logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, accelerator="cpu", devices=1)  # fmt: skip
    module = Module()
    trainer.fit(module, loader)
    scalars = read_scalars(tmp_path / "tb")
    assert [s for s, _ in scalars["similarity/net/conv2d_1"]] == [1, 2]
    assert [s for s, _ in scalars["train_loss"]] == [1, 2]
    assert callback.history["similarity"] == pytest.approx([v for _, v in scalars["similarity"]])
    assert float(trainer.callback_metrics["similarity"]) == pytest.approx(
        callback.history["similarity"][-1]
    )
    assert sorted(read_images(tmp_path / "tb")) == [
        "maps/net/conv2d_1",
        "similarity_matrix/net/conv2d_1",
    ]
