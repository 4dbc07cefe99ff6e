"""Every figure of the five seeds, for a trained mnist_convnet, in one script.

Trains mnist_convnet on the embedded MNIST subset for a few epochs with the similarity
tracker on (keeping the probe's maps across epochs), or reuses a run folder given with
--run, then draws each seed's figure with convscope.render and writes the PNGs to --out
(default: seed_figures/). Each figure's title says what this run shows.

Run: .venv/bin/python examples/seed_figures.py [--run runs/demo/run] [--out seed_figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import convscope as cs
from convscope.train.tracker import load_epoch_maps

SEED_003_SAMPLES = 6
"""Seed 003 looks at six test images (its selectedSampleIndexes)."""


def _model_and_history(args: argparse.Namespace, data: cs.data.Dataset, out: Path):
    if args.run:
        model, _meta = cs.models.load(args.run)
        history = cs.train.History.from_json(Path(args.run) / "history.json").history
        return model, history, load_epoch_maps(args.run)
    model = cs.models.build("mnist_convnet")
    run = out / "run"
    tracker = cs.train.SimilarityTracker(layers="conv", probe=32, out=run)
    history = cs.train.fit(
        model, data, epochs=args.epochs, callbacks=[tracker], out=run, progress=False
    ).history
    return model, history, tracker.epoch_maps_


def seed_000(figures: dict, model, x, history, epoch_maps) -> None:
    """The similarity chart (deepest tracked layer), the maps across epochs, the heat
    maps over one digit, the most and least similar pair and the clustered matrix."""
    figures["seed000_similarity_vs_loss"] = cs.render.similarity_vs_loss(history)
    figures["seed000_similarity_vs_loss_all_layers"] = cs.render.similarity_vs_loss(
        history, key="all"
    )
    if epoch_maps is not None:
        figures["seed000_maps_over_epochs"] = cs.render.maps_over_epochs(
            epoch_maps.maps, epoch_maps.epochs.tolist(), values=epoch_maps.values.tolist(),
            layer=epoch_maps.layer,
        )  # fmt: skip
    maps = cs.capture(model, x[:32], layers=["conv2d_1"])["conv2d_1"]
    figures["seed000_overlay"] = cs.render.overlay(x[0], maps[0])
    probe = maps[:1]
    matrix = cs.similarity.pairwise(probe, metric="multiply")
    pairs = cs.similarity.extreme_pairs(probe, metric="multiply", similarity=matrix)
    live = [c for c in range(probe.shape[1]) if c not in set(pairs.excluded)]
    n_pairs = len(live) * (len(live) - 1) // 2
    values = sorted((matrix[i, j] for a, i in enumerate(live) for j in live[a + 1 :]), reverse=True)
    for which in ("most", "least"):
        pair = getattr(pairs, which)
        if pair is not None:
            i, j, value = pair
            rank = sum(v > value for v in values) + 1
            figures[f"seed000_pair_{which}"] = cs.render.pair(
                x[0], probe[0, i], probe[0, j], similarity=value, names=(f"#{i}", f"#{j}"),
                layer="conv2d_1", image_label="image 0", rank=(rank, n_pairs),
            )  # fmt: skip
    inactive = cs.similarity.inactive_channels(maps)
    figures["similarity_matrix"] = cs.render.similarity_matrix(
        cs.similarity.pairwise(maps, metric="multiply"), order="cluster", metric="multiply",
        excluded=inactive.excluded, groups=cs.similarity.redundancy(maps).groups,
        title=f"conv2d_1 · multiply similarity, mean over {len(maps)} images",
    )  # fmt: skip


def seed_001(figures: dict, model, data, history) -> None:
    """One example per class, the accuracy/loss curves, the classes ranked by firing."""
    x, y = data.x_test, data.y_test
    examples = cs.data.class_examples(x, y, len(data.class_names))
    figures["seed001_examples"] = cs.render.examples_row(examples, data.class_names)
    figures["seed001_history"] = cs.render.history(history)
    layer = cs.firing.default_layer(model)  # the layer feeding the output: flatten here
    profile = cs.firing.profile(model, (x, y), layer, class_names=data.class_names)
    distance = cs.firing.class_distance(profile)
    figures["seed001_class_ranking"] = cs.render.class_ranking(
        distance, examples, data.class_names, unit="L1 distance"
    )
    figures["seed001_class_distance"] = cs.render.distance_matrix(
        distance, data.class_names, unit="mean |Δ firing rate| (L1)"
    )


def seed_002_to_004(figures: dict, model, data, evaluation) -> None:
    """Seed 002's grid, confusion and predictions; seed 003's samples and kernels; seed 004's belts."""
    x = data.x_test
    n = SEED_003_SAMPLES
    maps = cs.capture(
        model, x[:n], layers=["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    )
    figures["seed002_mosaic"] = cs.render.mosaic(maps["conv2d"], cols=8, cmap="binary")
    figures["seed002_confusion"] = cs.render.confusion(evaluation.confusion, data.class_names)
    figures["seed002_predictions"] = cs.render.predictions_grid(
        x, evaluation.predictions, data.y_test, per_class=10, class_names=data.class_names
    )
    # seed 003: its six samples after conv 1, the pool and conv 2 (plotOutputs)
    for layer in ("conv2d", "max_pooling2d", "conv2d_1"):
        figures[f"seed003_samples_{layer}"] = cs.render.samples_grid(
            x[:n], maps[layer], data.y_test[:n], evaluation.predictions[:n], cols=8,
            class_names=data.class_names, title=f"{layer} maps of {n} test images (seed 003)",
        )  # fmt: skip
    figures["seed003_kernels"] = cs.render.kernels(model.conv2d.weight.detach().numpy())
    figures["seed004_belt"] = cs.render.belt(maps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder made by `convscope train` or `convscope demo`")
    parser.add_argument("--out", default="seed_figures")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()
    data = cs.data.load("mnist5k", seed=0)
    model, history, epoch_maps = _model_and_history(args, data, out)
    evaluation = cs.train.evaluate(model, data.x_test, data.y_test, data.class_names)
    figures: dict = {}
    seed_000(figures, model, data.x_test, history, epoch_maps)
    seed_001(figures, model, data, history)
    seed_002_to_004(figures, model, data, evaluation)
    for name, fig in figures.items():
        cs.render.save(fig, out / f"{name}.png")
    print(
        f"test accuracy {evaluation.accuracy:.4f}; {cs.render.similarity_caption(history)}\n"
        f"wrote {len(figures)} figures to {out}/ in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
