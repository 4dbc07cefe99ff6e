"""Statistics, figures and the markdown page of ``bench/claims.py``.

Every sentence that judges a claim is computed from the numbers here: a claim "holds"
when the 95 % interval across seeds lies on its side of zero, is "reversed" when it lies
on the other side, and is "not shown" otherwise.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
from pathlib import Path
from typing import Any

import claims_figures
import numpy as np
from scipy import stats

METRICS = ("multiply", "cosine", "pearson")
ANIMAL_GROUP = ("horse", "zebra", "cow", "giraffe")

# What each seed reports, on what data (the seeds' own texts in shared/seeds/).
SEED_FIGURES = {
    "mnist_convnet": {
        "seed": "000", "data": "mnist", "train": 54_000,
        "split": "MNIST, 54,000 train / 6,000 val / 10,000 test, 30 epochs, batch 512",
        "figure": "not printed (the Keras example it extends reports about 99 %)",
    },
    "fashion_gap": {
        "seed": "001", "data": "fashion_mnist", "train": 42_000,
        "split": "Fashion-MNIST, 42,000 train / 18,000 val / 10,000 test, 15 epochs, batch 32",
        "figure": "90 % (test loss 0.32)",
    },
    "mnist_bn": {
        "seed": "002", "data": "mnist", "train": 60_000,
        "split": "MNIST, 60,000 train / 10,000 test (which also picked the best epoch), batch 200",
        "figure": "99.23 %",
    },
}  # fmt: skip
SAME_KIND = {"mnist5k": "mnist", "animals10k": "animals"}


# ------------------------------------------------------------------------ statistics
def ci95(values: Any) -> tuple[float, float, float, int]:
    """Mean and 95 % t-interval across seeds (NaN left out): (mean, low, high, n)."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(arr)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(arr.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    half = float(stats.t.ppf(0.975, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def ci95_corr(values: Any) -> tuple[float, float, float, int]:
    """Mean and 95 % interval of correlations across seeds, through Fisher's z (so the
    interval stays inside [-1, 1]); the mean is tanh of the mean z."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(arr) == 0:
        return math.nan, math.nan, math.nan, 0
    mean, low, high, n = ci95(np.arctanh(np.clip(arr, -0.999, 0.999)))
    return float(np.tanh(mean)), float(np.tanh(low)), float(np.tanh(high)), n


def spearman(a: Any, b: Any) -> float:
    """Spearman rho, NaN when either series is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def verdict(low: float, high: float) -> str:
    """``holds`` (interval above 0), ``reversed`` (below 0) or ``not shown``."""
    if np.isfinite(low) and low > 0:
        return "holds"
    if np.isfinite(high) and high < 0:
        return "reversed"
    return "not shown"


def fmt_ci(mean: float, low: float, high: float, digits: int = 2) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(low):
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def fmt_acc(mean: float, low: float, high: float) -> str:
    if not np.isfinite(low):
        return f"{100 * mean:.2f} %"
    low, high = max(low, 0.0), min(high, 1.0)  # an accuracy stays within [0, 1]
    return f"{100 * mean:.2f} % [{100 * low:.2f}, {100 * high:.2f}]"


def runs_of(results: dict, prefix: str) -> dict[tuple, list[dict]]:
    """Training runs grouped by (arch, data) (or by penalty label), seeds in order."""
    groups: dict[tuple, list[dict]] = {}
    for key, run in results["units"].items():
        parts = key.split("/")
        if parts[0] != prefix:
            continue
        group = tuple(parts[1:-1])
        groups.setdefault(group, []).append(run)
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in groups.items()}


def series_key(metric: str, layer: str) -> str:
    base = f"similarity/{layer}"
    return base if metric == "multiply" else f"{metric}:{base}"


def seed000(runs: list[dict]) -> list[dict]:
    """Per layer and metric: rho(similarity, val_loss) and rho(similarity, epoch) across seeds."""
    layers = [k.split("/", 1)[1] for k in runs[0]["history"] if k.startswith("similarity/")
              and not k.endswith(("/std", "/excluded"))]  # fmt: skip
    rows = []
    for layer in layers:
        excluded = [r["history"][f"similarity/{layer}/excluded"] for r in runs]
        for metric in METRICS:
            sims = [r["history"][series_key(metric, layer)] for r in runs]
            rho_loss = [
                spearman(s, r["history"]["val_loss"]) for s, r in zip(sims, runs, strict=True)
            ]
            rho_epoch = [spearman(s, np.arange(len(s))) for s in sims]
            loss_ci, epoch_ci = ci95_corr(rho_loss), ci95_corr(rho_epoch)
            rows.append({
                "layer": layer, "metric": metric, "rho_loss": loss_ci, "rho_epoch": epoch_ci,
                "first": float(np.nanmean([s[0] for s in sims])),
                "last": float(np.nanmean([s[-1] for s in sims])),
                "curves": sims,
                "excluded_last": float(np.mean([e[-1] for e in excluded])),
                "excluded_max": int(max(max(e) for e in excluded)),
                "verdict": verdict(loss_ci[1], loss_ci[2]),
            })  # fmt: skip
    return rows


def kendall_pairs(matrices: list[np.ndarray]) -> list[float]:
    """Kendall tau between the upper triangles of every pair of seeds' distance matrices."""
    iu = np.triu_indices(matrices[0].shape[0], k=1)
    return [float(stats.kendalltau(a[iu], b[iu]).statistic)
            for a, b in itertools.combinations(matrices, 2)]  # fmt: skip


def group_test(dist: np.ndarray, group: list[int]) -> dict[str, float]:
    """Exact permutation test: is the group's mean within-distance smaller than that of
    every other set of as many classes? p = share of the C(K, g) sets at least as close."""
    k, g = dist.shape[0], len(group)

    def within(members: tuple[int, ...]) -> float:
        return float(np.mean([dist[i, j] for i, j in itertools.combinations(members, 2)]))

    observed = within(tuple(group))
    null = [within(s) for s in itertools.combinations(range(k), g)]
    inside = set(itertools.combinations(sorted(group), 2))
    rest = [dist[i, j] for i, j in itertools.combinations(range(k), 2) if (i, j) not in inside]
    return {
        "within": observed,
        "rest": float(np.mean(rest)),
        "p": float(np.mean([v <= observed + 1e-12 for v in null])),
        "sets": len(null),
    }


def _spread(values: list[float]) -> tuple[float, float, float]:
    """Mean, min and max (seed pairs share seeds: no independent-sample interval)."""
    return float(np.mean(values)), float(np.min(values)), float(np.max(values))


def _nearest(dist: np.ndarray) -> list[int]:
    """Each class's nearest other class."""
    d = np.array(dist, dtype=float)
    np.fill_diagonal(d, np.inf)
    return [int(j) for j in d.argmin(axis=1)]


def seed001(runs: list[dict]) -> dict[str, Any]:
    """Nearest classes, their stability across seeds, and the animal-group test."""
    names = runs[0]["class_names"]
    mats = [np.asarray(r["distance"]) for r in runs]
    mean = np.mean(mats, axis=0)
    firsts = [_nearest(m) for m in mats]
    nearest = []
    for i, name in enumerate(names):
        order = [j for j in np.argsort(mean[i], kind="stable") if j != i]
        agree = sum(f[i] == order[0] for f in firsts)
        nearest.append((name, names[order[0]], names[order[1]], agree))
    iu = np.triu_indices(len(names), k=1)
    pairs = sorted(zip(mean[iu], iu[0], iu[1], strict=True))[:3]
    out: dict[str, Any] = {
        "names": names, "mean": mean, "nearest": nearest,
        "tau": _spread(kendall_pairs(mats)) if len(mats) > 1 else (math.nan,) * 3,
        "closest_pairs": [(names[i], names[j], float(d)) for d, i, j in pairs],
    }  # fmt: skip
    if set(ANIMAL_GROUP) <= set(names):
        group = [names.index(a) for a in ANIMAL_GROUP]
        out["group"] = {"per_seed": [group_test(m, group) for m in mats],
                        "mean": group_test(mean, group)}  # fmt: skip
    return out


def accuracy_rows(results: dict) -> list[dict]:
    """Test accuracy per (model, data) across seeds, beside the seed's figure and data."""
    rows = []
    for (arch, data), runs in sorted(runs_of(results, "train").items()):
        accs = [r["test_accuracy"] for r in runs]
        seed = SEED_FIGURES.get(arch)
        n_train, n_val, n_test = runs[0]["sizes"]
        if seed is None:
            gap = "-"
        elif SAME_KIND.get(data) == seed["data"]:
            gap = f"same kind of images, {seed['train'] / n_train:.0f}x fewer training images"
        else:
            gap = f"other images than the seed's; {seed['train'] / n_train:.0f}x fewer training images"
        rows.append({
            "arch": arch, "data": data, "acc": ci95(accs), "min": min(accs), "max": max(accs),
            "ours": f"{n_train:,} train / {n_val:,} val / {n_test:,} test",
            "seed": seed["seed"] if seed else "-", "theirs": seed["figure"] if seed else "-",
            "their_data": seed["split"] if seed else "-", "gap": gap, "seeds": len(runs),
        })  # fmt: skip
    return rows


def prune_table(results: dict) -> dict[str, Any]:
    """Accuracy drop (points) by criterion and fraction, without and with fine-tuning."""
    cells = [v for k, v in results["units"].items() if k.startswith("prune/")]
    if not cells:
        return {}
    criteria = list(dict.fromkeys(r["criterion"] for r in cells[0]["rows"]))
    fractions = sorted({r["fraction"] for r in cells[0]["rows"]})
    table: dict[str, Any] = {"criteria": criteria, "fractions": fractions, "drop": {}, "tuned": {}}
    for crit, frac in itertools.product(criteria, fractions):
        rows = [(c["base"], c["base_finetuned"], r) for c in cells for r in c["rows"]
                if r["criterion"] == crit and r["fraction"] == frac]  # fmt: skip
        table["drop"][crit, frac] = ci95([100 * (b - r["accuracy"]) for b, _, r in rows])
        table["tuned"][crit, frac] = ci95([100 * (b - r["finetuned"]) for b, _, r in rows])
        rand = [r for c in cells for r in c["rows"] if r["criterion"] == "random"
                and r["fraction"] == frac]  # fmt: skip
        for name, field in (("vs_random", "accuracy"), ("vs_random_tuned", "finetuned")):
            table.setdefault(name, {})[crit, frac] = ci95(
                [100 * (r[field] - q[field]) for (_, _, r), q in zip(rows, rand, strict=True)]
            )
        table.setdefault("params", {})[frac] = rows[0][2]["params"]
    table["base"] = ci95([c["base"] for c in cells])
    table["base_finetuned"] = ci95([c["base_finetuned"] for c in cells])
    table["params0"] = cells[0]["params"]
    table["seeds"] = len(cells)
    return table


def penalty_rows(results: dict) -> list[dict]:
    """Penalised vs plain runs of the same seeds: paired differences."""
    plain = {r["seed"]: r for runs in runs_of(results, "train").values() for r in runs
             if (r["arch"], r["data"]) == tuple(results["plan"]["prune_config"])}  # fmt: skip
    rows = []
    for (label,), runs in runs_of(results, "penalty").items():
        pairs = [(plain[r["seed"]], r) for r in runs if r["seed"] in plain]
        row = {"label": label, "seeds": len(pairs),
               "acc": ci95([100 * (q["test_accuracy"] - p["test_accuracy"]) for p, q in pairs]),
               "acc_plain": ci95([p["test_accuracy"] for p, _ in pairs]),
               "acc_pen": ci95([q["test_accuracy"] for _, q in pairs]), "layers": {}}  # fmt: skip
        for layer in pairs[0][0]["final"]:
            row["layers"][layer] = {
                m: (
                    ci95([p["final"][layer][m] for p, _ in pairs]),
                    ci95([q["final"][layer][m] for _, q in pairs]),
                )
                for m in METRICS
            }
            row["layers"][layer]["dead"] = (
                float(np.mean([p["final"][layer]["dead"] for p, _ in pairs])),
                float(np.mean([q["final"][layer]["dead"] for _, q in pairs])),
                pairs[0][0]["final"][layer]["channels"],
            )
        row["pairs"] = [(p["test_accuracy"], q["test_accuracy"], p["final"], q["final"])
                        for p, q in pairs]  # fmt: skip
        rows.append(row)
    return rows


def summary(results: dict) -> dict[str, Any]:
    """The headline numbers as JSON (bench/results/claims-<plan>-summary.json)."""
    out: dict[str, Any] = {"accuracy": {}, "seed000": {}, "prune": {}, "penalty": {}}
    for row in accuracy_rows(results):
        out["accuracy"][f"{row['arch']}/{row['data']}"] = row["acc"]
    for (arch, data), runs in runs_of(results, "train").items():
        for row in seed000(runs):
            key = f"{arch}/{data}/{row['layer']}/{row['metric']}"
            out["seed000"][key] = {"rho_val_loss": row["rho_loss"], "verdict": row["verdict"]}
    table = prune_table(results)
    for (crit, frac), value in table.get("drop", {}).items():
        out["prune"][f"{crit}/{frac}"] = {"drop": value, "finetuned": table["tuned"][crit, frac]}
    for row in penalty_rows(results):
        out["penalty"][row["label"]] = {"accuracy_change_points": row["acc"]}
    return out


# ------------------------------------------------------------------------ the page
def write(results: dict, page: Path, *, command: str, minutes: float) -> Path:
    """Write the markdown page and its figures (``<page dir>/claims/*.png``)."""
    import claims_page

    figures = page.parent / "claims"
    figures.mkdir(parents=True, exist_ok=True)
    groups = runs_of(results, "train")
    s000 = {k: seed000(v) for k, v in groups.items()}
    s001 = {k: seed001(v) for k, v in groups.items()}
    prune = prune_table(results)
    penalty = penalty_rows(results)
    paths = claims_figures.draw_all(figures, s000, s001, prune, penalty, groups)
    recorded = [u.get("seconds", u.get("train_seconds", 0.0)) for u in results["units"].values()]
    minutes = max(minutes, sum(recorded) / 60)  # units kept from an interrupted run count too
    text = claims_page.render(
        results, s000=s000, s001=s001, accuracy=accuracy_rows(results), prune=prune,
        penalty=penalty, figures={k: os.path.relpath(p, page.parent) for k, p in paths.items()},
        command=command, minutes=minutes, machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
    )  # fmt: skip
    tmp = page.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, page)
    return page
