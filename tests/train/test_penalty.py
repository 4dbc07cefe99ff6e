"""The similarity penalty: surrogates against the metrics, the loss hook in fit, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.errors import ConvscopeError, UnknownNameError
from convscope.metrics.similarity import mean_similarity
from convscope.models import build
from convscope.runfolder import RunFolder
from convscope.train import fit
from convscope.train.penalty import SimilarityPenalty, soft_similarity
from tests.seeds import seed_mean_similarity


class Toy:
    """64 training and 16 validation images of 3 classes."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x_train = rng.random((64, 1, 28, 28), dtype=np.float32)
        self.y_train = np.arange(64) % 3
        self.x_val = rng.random((16, 1, 28, 28), dtype=np.float32)
        self.y_val = np.arange(16) % 3
        self.class_names = ["a", "b", "c"]
        self.name = "toy"


def _maps(seed: int, n: int = 3, c: int = 6, size: int = 5) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, c, size, size))).float()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["cosine", "pearson"]))
def test_cosine_and_pearson_equal_the_metrics(seed, metric):
    maps = _maps(seed)
    exact = mean_similarity(maps.numpy(), metric)
    assert float(soft_similarity(maps, metric)) == pytest.approx(exact, abs=1e-5)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_soft_multiply_tends_to_the_seed_metric(seed):
    maps = _maps(seed, n=1)
    oracle, _ = seed_mean_similarity(maps.numpy().transpose(0, 2, 3, 1))  # seed 000's loop, NHWC
    assert float(soft_similarity(maps, "multiply", temperature=1e-6)) == pytest.approx(
        oracle, abs=2e-3
    )
    assert mean_similarity(maps.numpy(), "multiply") == pytest.approx(oracle, abs=1e-9)


def test_soft_multiply_is_smooth_and_has_gradients():
    maps = _maps(1).requires_grad_(True)
    value = soft_similarity(maps, "multiply", temperature=0.05)
    value.backward()
    assert torch.isfinite(maps.grad).all() and maps.grad.abs().sum() > 0


@pytest.mark.parametrize("metric", ["cosine", "pearson", "multiply"])
def test_flat_channels_are_left_out(metric):
    maps = _maps(2)
    with_dead = torch.cat([maps, torch.zeros(3, 2, 5, 5)], dim=1)
    with_flat = torch.cat([maps, torch.full((3, 1, 5, 5), 0.7)], dim=1)
    base = float(soft_similarity(maps, metric))
    assert float(soft_similarity(with_dead, metric)) == pytest.approx(base, abs=1e-6)
    assert float(soft_similarity(with_flat, metric)) == pytest.approx(base, abs=1e-6)


def test_no_live_pair_is_zero_with_a_graph():
    maps = torch.zeros(2, 3, 4, 4, requires_grad=True)
    value = soft_similarity(maps, "cosine")
    assert float(value.detach()) == 0.0
    value.backward()  # still part of the graph


def test_identical_maps_have_cosine_one():
    one = _maps(3, c=1)
    assert float(soft_similarity(one.repeat(1, 4, 1, 1), "cosine")) == pytest.approx(1.0)


def test_penalty_reads_only_training_passes():
    model = build("mnist_convnet")
    penalty = SimilarityPenalty(layers="conv", weight=2.0)
    penalty.on_train_begin(model, None)
    assert penalty.layer_names_ == ["conv2d", "conv2d_1"]
    with torch.no_grad():
        model.train()(torch.rand(2, 1, 28, 28))  # no gradients: not a training step
    model.eval()(torch.rand(2, 1, 28, 28))  # eval mode: not a training step
    with pytest.raises(ConvscopeError, match="no training maps"):
        penalty()
    x = torch.rand(4, 1, 28, 28)
    model.train()(x)
    term = penalty()
    maps = {}
    handles = [
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: maps.__setitem__(n, o))
        for n in ("conv2d", "conv2d_1")
    ]
    model(x)
    for h in handles:
        h.remove()
    expected = 2.0 * sum(float(soft_similarity(m, "cosine").detach()) for m in maps.values())
    assert float(term.detach()) == pytest.approx(expected, rel=1e-5)
    penalty.on_train_end(model, {})
    assert not model.conv2d._forward_hooks


def test_fit_logs_and_records_the_penalty(tmp_path):
    torch.manual_seed(0)
    model = build("mnist_convnet", num_classes=3)
    penalty = SimilarityPenalty(layers="conv2d_1", metric="multiply", weight=0.5, images=4)
    history = fit(model, Toy(), epochs=2, batch_size=32, out=tmp_path, progress=False,
                  penalty=penalty)  # fmt: skip
    assert len(history["penalty"]) == 2 and len(history["penalty/conv2d_1"]) == 2
    assert history["penalty"][0] == pytest.approx(0.5 * history["penalty/conv2d_1"][0])
    recorded = RunFolder(tmp_path).record()["options"]["penalty"]
    assert recorded["metric"] == "multiply" and recorded["layers"] == "conv2d_1"
    assert not model.conv2d_1._forward_hooks  # removed at the end


def _train(penalty, epochs=2, out=None, resume=False):
    torch.manual_seed(0)
    model = build("mnist_convnet", num_classes=3)
    fit(model, Toy(), epochs=epochs, batch_size=16, out=out, resume=resume, progress=False,
        penalty=penalty)  # fmt: skip
    return model


def test_zero_weight_penalty_trains_exactly_like_no_penalty():
    plain = _train(None)
    zero = _train(SimilarityPenalty(layers="conv", weight=0.0))
    for (k, a), b in zip(plain.state_dict().items(), zero.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_the_penalty_changes_training_and_lowers_similarity():
    x = torch.from_numpy(Toy().x_val)
    plain = _train(None, epochs=3)
    pen = _train(SimilarityPenalty(layers="conv2d_1", weight=5.0), epochs=3)
    assert not torch.equal(plain.conv2d_1.weight, pen.conv2d_1.weight)

    def similarity(model):
        maps = {}
        h = model.conv2d_1.register_forward_hook(lambda m, i, o: maps.__setitem__("m", o))
        with torch.no_grad():
            model.eval()(x)
        h.remove()
        return float(soft_similarity(maps["m"], "cosine"))

    assert similarity(pen) < similarity(plain)


def test_resume_with_a_penalty_is_bit_identical(tmp_path):
    whole = _train(SimilarityPenalty(layers="conv", weight=0.3), epochs=3, out=tmp_path / "a")
    _train(SimilarityPenalty(layers="conv", weight=0.3), epochs=1, out=tmp_path / "b")
    resumed = _train(
        SimilarityPenalty(layers="conv", weight=0.3), epochs=3, out=tmp_path / "b", resume=True
    )
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    ha = RunFolder(tmp_path / "a").history()
    hb = RunFolder(tmp_path / "b").history()
    assert ha["penalty"] == hb["penalty"] and ha["loss"] == hb["loss"]


def test_bad_penalties():
    with pytest.raises(UnknownNameError, match="cosine, pearson, multiply"):
        SimilarityPenalty(metric="euclid")
    with pytest.raises(ConvscopeError, match="weight"):
        SimilarityPenalty(weight=-1.0)
    with pytest.raises(ConvscopeError, match="penalty must be callable"):
        fit(build("mnist_convnet", num_classes=3), Toy(), epochs=1, progress=False, penalty=0.1)
    with pytest.raises(UnknownNameError, match="conv2d_1"):
        fit(build("mnist_convnet", num_classes=3), Toy(), epochs=1, progress=False,
            penalty=SimilarityPenalty(layers="conv9"))  # fmt: skip
    with pytest.raises(UnknownNameError):
        soft_similarity(torch.rand(1, 2, 3, 3), "multiply2")


@pytest.mark.slow
def test_train_verb_penalty_and_resume(tmp_path, capsys):
    from convscope.cli import main

    out = tmp_path / "run"
    base = ["train", "--epochs", "1", "--out", str(out), "--data-dir", str(tmp_path / "cache")]
    argv = [*base, "--penalty", "cosine", "--penalty-weight", "0.2", "--penalty-layers", "conv2d_1"]
    assert main(argv) == 0
    options = RunFolder(out).record()["options"]
    assert options["penalty"]["weight"] == 0.2 and options["penalty"]["layers"] == "conv2d_1"
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2"]) == 0
    history = RunFolder(out).history()
    assert len(history["penalty/conv2d_1"]) == 2  # the resumed epoch kept the recorded penalty
    capsys.readouterr()
    other = ["train", "--epochs", "1", "--out", str(tmp_path / "other")]
    assert main([*other, "--penalty-weight", "0.2"]) == 2
    assert "need --penalty METRIC" in capsys.readouterr().err


def test_soft_multiply_is_faithful_on_sparse_relu_maps():
    """A width fixed in absolute terms counted the zero cells of sparse maps as half above
    a small mean (0.47 against an exact 0.02); relative to the mean product it does not."""
    torch.manual_seed(0)
    maps = torch.relu(torch.randn(4, 16, 11, 11))
    exact = mean_similarity(maps.numpy(), "multiply")
    assert float(soft_similarity(maps, "multiply", temperature=0.1)) == pytest.approx(
        exact, abs=0.01
    )
    disjoint = torch.zeros(1, 2, 4, 4)
    disjoint[0, 0, :2] = 1.0
    disjoint[0, 1, 2:] = 1.0  # no cell in common: the product is zero everywhere
    assert float(soft_similarity(disjoint, "multiply")) == 0.0
