"""Do the seeds' claims hold? Measured over training seeds with 95 % intervals (issue 17).

* seed 000: per layer, Spearman rho between mean channel similarity and val_loss over the
  epochs, for the multiply, cosine and pearson metrics (dead channels left out, counted);
* seed 001: nearest classes by firing profile, their stability across seeds (Kendall tau
  between the seeds' class-distance matrices) and, on animals10k, whether horse, zebra,
  cow and giraffe are nearer each other than the rest (exact permutation test);
* accuracy against the seeds' own figures;
* redundancy put to use: test accuracy after removing 10-50 % of a layer's channels chosen
  by redundancy, weight norm, FPGM or at random, without and with a short fine-tune;
* seed 000's closing idea: training with a channel-similarity penalty vs plain training.

Every trained run and every pruning cell is kept in ``bench/results/claims-<plan>/`` as it
finishes, so an interrupted run continues where it stopped (``--fresh`` starts over). The
full plan writes ``docs/claims.md`` and its figures under ``docs/claims/``; ``--quick``
(tiny data, three seeds, a few epochs) writes the same page under the results folder.

Run:
    .venv/bin/python bench/claims.py --quick    # every experiment, small: < 10 min
    .venv/bin/python bench/claims.py            # the full run: ~45 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402
import claims_report  # noqa: E402

import convscope as cs  # noqa: E402
from convscope.capturing import capture  # noqa: E402
from convscope.metrics.similarity import inactive_channels, mean_similarity  # noqa: E402
from convscope.prune import parameter_count, prune, rank_channels  # noqa: E402
from convscope.train.penalty import SimilarityPenalty  # noqa: E402
from convscope.train.tracker import similarity_logs  # noqa: E402

METRICS = ("multiply", "cosine", "pearson")
ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one bench run measures, and how big."""

    name: str
    seeds: tuple[int, ...]
    configs: tuple[tuple[str, str], ...]
    epochs: int
    limit: tuple[int, int, int] | None  # train/val/test images kept (None: all)
    probe: int = 32
    batch_size: int = 64
    prune_config: tuple[str, str] = ("mnist_convnet", "mnist5k")
    prune_layer: str = "conv2d_1"
    criteria: tuple[tuple[str, str, str], ...] = (
        ("redundancy (multiply)", "redundancy", "multiply"),
        ("redundancy (cosine)", "redundancy", "cosine"),
        ("weight norm (L1)", "weight_norm", ""),
        ("FPGM", "fpgm", ""),
        ("random", "random", ""),
    )
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    finetune_epochs: int = 1
    finetune_lr: float = 1e-3
    # (label, metric, weight, layers, images of each batch the term is computed on)
    penalties: tuple[tuple[str, str, float, str, int | None], ...] = (
        ("cosine x0.1 on conv", "cosine", 0.1, "conv", 32),
        ("cosine x0.3 on conv", "cosine", 0.3, "conv", 32),
        ("soft multiply x0.3 on conv2d_1", "multiply", 0.3, "conv2d_1", 8),
    )
    final_images: int = 256

    @property
    def folder(self) -> Path:
        return _harness.RESULTS / f"claims-{self.name}"

    def key(self) -> dict[str, Any]:
        """The plan as its JSON record reads back (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


FULL = Plan(
    name="full",
    seeds=(0, 1, 2, 3, 4),
    configs=(
        ("mnist_convnet", "mnist5k"),
        ("mnist_convnet", "animals10k"),
        ("fashion_gap", "mnist5k"),
        ("fashion_gap", "animals10k"),
        ("mnist_bn", "mnist5k"),
    ),
    epochs=10,
    limit=None,
)
QUICK = dataclasses.replace(
    FULL,
    name="quick",
    seeds=(0, 1, 2),
    configs=FULL.configs[:4],
    epochs=3,
    limit=(600, 200, 400),
    fractions=(0.1, 0.3, 0.5),
    final_images=128,
)


# ------------------------------------------------------------------------ the store
class Store:
    """Results by key in one JSON file, written atomically after every unit of work."""

    def __init__(self, plan: Plan, fresh: bool) -> None:
        self.path = plan.folder / "results.json"
        self.data: dict[str, Any] = {"plan": plan.key(), "units": {}}
        if self.path.exists() and not fresh:
            old = json.loads(self.path.read_text(encoding="utf-8"))
            if old.get("plan") == plan.key():
                self.data = old
                print(f"continuing {self.path} ({len(old['units'])} units done)", flush=True)

    def get(self, key: str) -> Any:
        return self.data["units"].get(key)

    def run(self, key: str, work: Any) -> Any:
        """The unit's result: kept from before, or computed now (its time recorded)."""
        if self.get(key) is None:
            started = time.perf_counter()
            value = work()
            value["seconds"] = time.perf_counter() - started
            self.put(key, value)
        return self.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data["units"][key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, default=_plain) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


class Progress:
    """Prints each unit as it finishes, with the time spent and an estimate of what is left."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def __call__(self, text: str, weight: int = 1) -> None:
        self.done += weight
        spent = time.perf_counter() - self.started
        left = spent / max(self.done, 1) * (self.total - self.done)
        print(
            f"[{self.done:>3}/{self.total}] {spent / 60:5.1f} min, ~{left / 60:4.1f} min left  {text}",
            flush=True,
        )


# ------------------------------------------------------------------------ experiments
def load_data(plan: Plan, name: str, seed: int) -> Any:
    """The data set split with ``seed``; the quick plan keeps its first images only."""
    data = cs.data.load(name, seed=seed)
    if plan.limit is None:
        return data
    n_train, n_val, n_test = plan.limit
    return dataclasses.replace(
        data,
        x_train=data.x_train[:n_train],
        y_train=data.y_train[:n_train],
        x_val=data.x_val[:n_val],
        y_val=data.y_val[:n_val],
        x_test=data.x_test[:n_test],
        y_test=data.y_test[:n_test],
    )


class OtherMetrics:
    """Logs cosine and pearson similarity as ``<metric>:similarity/<layer>`` each epoch
    (the library's SimilarityTracker logs the multiply metric under the plain keys)."""

    def __init__(self, probe: np.ndarray, layers: list[str]) -> None:
        self.probe, self.layers = probe, layers

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        maps = capture(model, self.probe, layers=self.layers)
        for metric in METRICS[1:]:
            for key, value in similarity_logs(maps, metric).items():
                logs[f"{metric}:{key}"] = value


def final_redundancy(model: Any, images: np.ndarray) -> dict[str, Any]:
    """Per conv layer: mean similarity (each metric, dead left out) and dead channels."""
    maps = capture(model, images, layers="conv")
    out: dict[str, Any] = {}
    for layer, layer_maps in maps.items():
        out[layer] = {m: mean_similarity(layer_maps, m, layer=layer) for m in METRICS}
        out[layer]["dead"] = len(inactive_channels(layer_maps, layer=layer).dead)
        out[layer]["channels"] = int(layer_maps.shape[1])
    return out


def train_run(plan: Plan, arch: str, dname: str, seed: int, penalty: Any = None) -> dict:
    """Train one seed with the trackers on; its history, accuracy, firing and redundancy."""
    data = load_data(plan, dname, seed)
    torch.manual_seed(seed)  # the initial weights depend on the seed, as in `convscope train`
    model = cs.models.build(arch, num_classes=len(data.class_names))
    probe = data.x_val[: plan.probe]
    layers = [i.name for i in cs.layers(model) if i.kind == "conv"]
    callbacks = [
        cs.train.SimilarityTracker(layers=layers, probe=probe, metric="multiply"),
        OtherMetrics(probe, layers),
    ]
    started = time.perf_counter()
    history = cs.train.fit(
        model, data, epochs=plan.epochs, batch_size=plan.batch_size, seed=seed,
        callbacks=callbacks, progress=False, penalty=penalty,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    evaluation = cs.train.evaluate(model, data.x_test, data.y_test, list(data.class_names))
    firing_layer = cs.firing.default_layer(model)
    profile = cs.firing.profile(model, (data.x_test, data.y_test), firing_layer)
    return {
        "arch": arch,
        "data": dname,
        "seed": seed,
        "sizes": [len(data.y_train), len(data.y_val), len(data.y_test)],
        "history": {k: v for k, v in history.history.items() if k not in ("lr",)},
        "test_accuracy": evaluation.accuracy,
        "test_loss": evaluation.loss,
        "firing_layer": firing_layer,
        "class_names": list(data.class_names),
        "distance": cs.firing.class_distance(profile).tolist(),
        "final": final_redundancy(model, data.x_test[: plan.final_images]),
        "train_seconds": seconds,
        "model": _keep(plan, model, f"{arch}-{dname}-{seed}") if penalty is None else None,
    }


def _keep(plan: Plan, model: Any, name: str) -> str:
    """Save a trained model beside the results (pruning starts from it); its path."""
    path = plan.folder / "models" / f"{name}.safetensors"
    cs.models.save_model(model, path)
    return str(path)


def prune_cell(
    model: Any,
    data: Any,
    layer: str,
    by: str,
    metric: str,
    fraction: float,
    seed: int,
    samples: int = 256,
) -> tuple[Any, list[int], float]:
    """Prune ``fraction`` of ``layer`` by one criterion as ``convscope prune`` does it.

    Ranks on the training split's first ``samples`` images (the CLI's defaults), removes
    the channels for real and evaluates on the test split: ``(pruned, channels, accuracy)``.
    """
    ranking = rank_channels(
        model, data.x_train, layer, by, metric=metric or "multiply", samples=samples, seed=seed
    )
    channels = ranking.select(fraction=fraction)
    pruned = prune(model, ranking.layer, channels)
    return pruned, channels, cs.train.evaluate(pruned, data.x_test, data.y_test).accuracy


def finetune(plan: Plan, model: Any, data: Any, seed: int) -> float:
    """Test accuracy after ``plan.finetune_epochs`` epochs of Adam at ``finetune_lr``."""
    cs.train.fit(
        model, data, epochs=plan.finetune_epochs, lr=plan.finetune_lr,
        batch_size=plan.batch_size, seed=seed, progress=False,
    )  # fmt: skip
    return cs.train.evaluate(model, data.x_test, data.y_test).accuracy


def trained_model(run: dict) -> Any:
    return cs.models.load(run["model"])[0]


def prune_seed(plan: Plan, run: dict, say: Progress) -> dict:
    """Every criterion x fraction for one trained seed, without and with fine-tuning."""
    arch, dname = plan.prune_config
    data = load_data(plan, dname, run["seed"])
    model = trained_model(run)
    base = cs.train.evaluate(model, data.x_test, data.y_test).accuracy
    cells: dict[str, Any] = {"base": base, "params": parameter_count(model)}
    cells["base_finetuned"] = finetune(plan, trained_model(run), data, run["seed"])
    rows = []
    for label, by, metric in plan.criteria:
        ranking = rank_channels(
            model, data.x_train, plan.prune_layer, by, metric=metric or "multiply", seed=run["seed"]
        )
        for fraction in plan.fractions:
            channels = ranking.select(fraction=fraction)
            pruned = prune(model, plan.prune_layer, channels)
            acc = cs.train.evaluate(pruned, data.x_test, data.y_test).accuracy
            tuned = finetune(plan, pruned, data, run["seed"])
            rows.append(
                {"criterion": label, "fraction": fraction, "removed": len(channels),
                 "params": parameter_count(pruned), "accuracy": acc, "finetuned": tuned}
            )  # fmt: skip
        say(f"pruned seed {run['seed']} by {label}", 0)
    cells["rows"] = rows
    return cells


# ------------------------------------------------------------------------ driver
def run_plan(plan: Plan, fresh: bool) -> dict:
    store = Store(plan, fresh)
    units = len(plan.configs) * len(plan.seeds) + len(plan.seeds) * (1 + len(plan.penalties))
    say = Progress(units)
    for arch, dname in plan.configs:
        for seed in plan.seeds:
            key = f"train/{arch}/{dname}/{seed}"
            run = store.run(key, partial(train_run, plan, arch, dname, seed))
            say(f"{key}: test accuracy {run['test_accuracy']:.4f} ({run['train_seconds']:.0f} s)")
    arch, dname = plan.prune_config
    for seed in plan.seeds:
        source = store.get(f"train/{arch}/{dname}/{seed}")
        cells = store.run(f"prune/{seed}", partial(prune_seed, plan, source, say))
        say(f"prune/{seed}: base accuracy {cells['base']:.4f}")
    for label, metric, weight, layers, images in plan.penalties:
        for seed in plan.seeds:
            penalty = SimilarityPenalty(layers=layers, metric=metric, weight=weight, images=images)
            key = f"penalty/{label}/{seed}"
            run = store.run(key, partial(train_run, plan, arch, dname, seed, penalty=penalty))
            say(f"{key}: test accuracy {run['test_accuracy']:.4f}")
    return store.data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, 3 seeds: < 10 min")
    parser.add_argument("--fresh", action="store_true", help="ignore results kept from before")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", help="markdown page (default docs/claims.md; quick: results)")
    parser.add_argument(
        "--report-only", action="store_true", help="write the page from the results kept so far"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    print(f"claims bench, {plan.name} plan: {_harness.env_line()}", flush=True)
    results = Store(plan, False).data if args.report_only else run_plan(plan, args.fresh)
    command = "python bench/claims.py" + (" --quick" if args.quick else "")
    page = Path(args.out) if args.out else (
        plan.folder / "claims.md" if args.quick else ROOT / "docs" / "claims.md"
    )  # fmt: skip
    minutes = (time.perf_counter() - started) / 60
    path = claims_report.write(results, page, command=command, minutes=minutes)
    _harness.save(f"claims-{plan.name}-summary", claims_report.summary(results))
    print(f"wrote {path} ({minutes:.1f} min)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
