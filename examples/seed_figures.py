"""Every figure of the five seeds, for a trained mnist_convnet, in one script.

Trains mnist_convnet on the embedded MNIST subset for a few epochs with the similarity
tracker on (or reuses a run folder given with --run), then draws each seed's figure with
convscope.render and writes the PNGs to --out (default: seed_figures/).

Run: .venv/bin/python examples/seed_figures.py [--run runs/demo/run] [--out seed_figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import convscope as cs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder made by `convscope train` or `convscope demo`")
    parser.add_argument("--out", default="seed_figures")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()

    data = cs.data.load("mnist5k", seed=0)
    if args.run:
        model, _meta = cs.models.load_model(args.run)
        history = cs.train.History.from_json(Path(args.run) / "history.json").history
    else:
        model = cs.models.build("mnist_convnet")
        tracker = cs.train.SimilarityTracker(layers="conv", probe=32)
        history = cs.train.fit(
            model, data, epochs=args.epochs, callbacks=[tracker], progress=False
        ).history
    evaluation = cs.train.evaluate(model, data.x_test, data.y_test, data.class_names)
    x = data.x_test
    image = x[0]

    maps = cs.capture(
        model, x[:6], layers=["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    )
    figures = {}
    # seed 002: 4x8 grid of the first conv layer's 32 maps for one digit
    figures["seed002_mosaic"] = cs.render.mosaic(maps["conv2d"], cols=8, cmap="binary")
    # seed 004: image belts of every conv and pool layer, standardised
    figures["seed004_belt"] = cs.render.belt(maps)
    # seed 003: plotOutputs — each sample titled predict/actual, then its maps
    figures["seed003_samples_grid"] = cs.render.samples_grid(
        x[:6],
        maps["conv2d"],
        data.y_test[:6],
        evaluation.predictions[:6],
        cols=8,
        class_names=data.class_names,
    )
    # seed 003: first-layer kernels as heat maps centred on zero
    figures["seed003_kernels"] = cs.render.kernels(model.conv2d.weight.detach().numpy())
    # seed 000: 8x8 grid of the 64 conv2d_1 maps over the input
    figures["seed000_overlay"] = cs.render.overlay(image, maps["conv2d_1"][0])
    # seed 000: the most and least similar pair and their product
    pairs = cs.similarity.extreme_pairs(maps["conv2d_1"][:1], metric="multiply")
    for which in ("most", "least"):
        pair = getattr(pairs, which)
        if pair is not None:
            i, j, value = pair
            figures[f"seed000_pair_{which}"] = cs.render.pair(
                image,
                maps["conv2d_1"][0, i],
                maps["conv2d_1"][0, j],
                similarity=value,
                names=(f"#{i}", f"#{j}"),
            )
    # the similarity matrix, clustered, with redundancy groups
    S = cs.similarity.pairwise(
        cs.capture(model, x[:32], layers="conv2d_1")["conv2d_1"], metric="multiply"
    )
    figures["similarity_matrix"] = cs.render.similarity_matrix(S, order="cluster")
    # seeds 001, 002: accuracy and loss curves; seed 000: similarity against val_loss
    figures["seed001_history"] = cs.render.history(history)
    figures["seed000_similarity_vs_loss"] = cs.render.similarity_vs_loss(history)
    # seed 002: confusion matrix and predictions grouped by predicted class
    figures["seed002_confusion"] = cs.render.confusion(evaluation.confusion, data.class_names)
    figures["seed002_predictions"] = cs.render.predictions_grid(
        x, evaluation.predictions, data.y_test, per_class=10, class_names=data.class_names
    )
    # seed 001: classes ranked by how alike their firing patterns are
    layer = cs.firing.default_layer(model)  # the layer feeding the output: flatten here
    profile = cs.firing.profile(model, (x, data.y_test), layer, class_names=data.class_names)
    distance = cs.firing.class_distance(profile)
    examples = cs.data.class_examples(x, data.y_test, len(data.class_names))
    figures["seed001_class_ranking"] = cs.render.class_ranking(distance, examples, data.class_names)

    for name, fig in figures.items():
        cs.render.save(fig, out / f"{name}.png")
    print(
        f"test accuracy {evaluation.accuracy:.4f}; wrote {len(figures)} figures to {out}/ in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
