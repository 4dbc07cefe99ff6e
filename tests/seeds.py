"""The seed notebooks' own code, copied verbatim once: the oracles of the test suite.

Every function here is the seed's code as its author wrote it (only wrapped into a
function where the seed ran it at top level, with the wrapper's arguments named after the
seed's variables). Tests and benchmarks import them from here; nobody copies them again.

Seeds: 000 (feature-map similarity, Keras callback), 001 (class firing profiles),
002 (feature-map grid), 004 (standardised image belts). The seed files are in
``shared/seeds/``.
"""

from __future__ import annotations

import io

import numpy as np


# ---- seed 000: similarity of feature maps --------------------------------------------------
def similarity_multiply(img1, img2):
    # norm both to 0->1, multiply to produce 0->1
    min1 = np.min(img1)
    min2 = np.min(img2)
    base1 = np.max(img1) - min1
    base2 = np.max(img2) - min2
    if base1 == 0:
        base1 = 0.0001
    if base2 == 0:
        base2 = 0.0001
    norm1 = (img1 - min1) / base1
    norm2 = (img2 - min2) / base2
    mult = norm1 * norm2
    correlated = mult > np.mean(mult)

    percentage = sum(correlated.flatten()) / len(img1.flatten())
    return percentage


def seed_on_epoch_end(maps, simfunc=similarity_multiply):
    """LogSimilarities.on_epoch_end: ``maps`` is the sub-model's NHWC prediction."""
    maps = maps[:, :, :, :]
    preds = []
    for i in range(maps.shape[3]):
        preds.append(maps[0, :, :, i])
    sims = []
    for i in range(maps.shape[3]):
        for j in range(i + 1, maps.shape[3]):
            measure = simfunc(preds[i], preds[j])
            sims.append(measure)
    avg = sum(sims) / len(sims)
    return avg


def seed_mean_similarity(maps, simfunc=similarity_multiply, max_pairs=None):
    """The same loop, optionally stopped after ``max_pairs`` pairs (benchmarks); (avg, pairs)."""
    preds = []
    for i in range(maps.shape[3]):
        preds.append(maps[0, :, :, i])
    sims = []
    for i in range(maps.shape[3]):
        for j in range(i + 1, maps.shape[3]):
            measure = simfunc(preds[i], preds[j])
            sims.append(measure)
            if max_pairs is not None and len(sims) >= max_pairs:
                return sum(sims) / len(sims), len(sims)
    avg = sum(sims) / len(sims)
    return avg, len(sims)


def seed_extreme_search(maps, simfunc=similarity_multiply):
    """The most/least similar pair search (MinMaxScaler lines dropped: unused)."""
    preds = []
    for i in range(maps.shape[3]):
        preds.append(maps[0, :, :, i])
    preds = np.asarray(preds)

    sims = []
    min_i = -1
    min_j = -1
    max_i = -1
    max_j = -1
    min_sim = 100000
    max_sim = -1

    for i in range(len(preds)):
        for j in range(i + 1, len(preds)):
            measure = simfunc(preds[i], preds[j])
            top_i = np.max(preds[i])
            top_j = np.max(preds[j])
            ratio = np.max([top_i, top_j]) / np.min([top_i, top_j])
            if measure < min_sim and ratio < 3:
                min_sim = measure
                min_i = i
                min_j = j
            if measure > max_sim:
                max_sim = measure
                max_i = i
                max_j = j
        sims.append(measure)
    return (max_i, max_j, max_sim), (min_i, min_j, min_sim)


# ---- seed 001: class firing profiles ---------------------------------------------------------
def seed_001_class_vs_neurons(X_test, y_test, predict):
    class_vs_neurons = np.zeros((10, 32))
    for idx in range(10):
        class_choice = X_test[y_test == idx]
        intermediate_output = predict(class_choice)
        intermediate_output[intermediate_output > 0] = 1.0
        class_vs_neurons[idx, :] = np.sum(intermediate_output, axis=0) / 1000
    return class_vs_neurons


def seed_001_corr(class_vs_neurons):
    corr = np.zeros((10, 10))
    for i in range(10):
        for j in range(10):
            corr[i, j] = np.sum(np.absolute(class_vs_neurons[i] - class_vs_neurons[j])) / 32
    return corr


# ---- seed 002: one subplot per feature map ---------------------------------------------------
def seed_002_grid(feature_maps, rows=4, cols=8):
    """The seed's loop (``plt.show()`` becomes ``savefig`` into memory); returns PNG bytes."""
    import matplotlib.pyplot as plt

    nmaps = feature_maps[0].shape[-1]
    fig = plt.figure(figsize=(8, 4), dpi=120)
    for i in range(nmaps):
        fig.add_subplot(rows, cols, i + 1)
        plt.imshow(feature_maps[0][0, :, :, i], cmap="binary")
        plt.axis("off")
    buf = io.BytesIO()
    plt.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ---- seed 004: standardised feature image --------------------------------------------------
def seed_004_standardize(x):
    """The seed's "make it palatable to human eyes" lines, on one map (float)."""
    feature_image = np.array(x, dtype=np.float64)
    feature_image -= feature_image.mean()
    feature_image /= feature_image.std()
    feature_image *= 64
    feature_image += 128
    feature_image = np.clip(feature_image, 0, 255).astype("uint8")
    return feature_image


# ---- helpers (not seed code) ---------------------------------------------------------------
def nhwc(maps_chw: np.ndarray) -> np.ndarray:
    """(C, H, W) -> the seed's (1, H, W, C) Keras layout."""
    return np.ascontiguousarray(maps_chw.transpose(1, 2, 0)[None])


def seed_matrix(maps_chw: np.ndarray) -> np.ndarray:
    """Seed 000's function over every ordered pair: the (C, C) matrix, diagonal included."""
    c = maps_chw.shape[0]
    return np.array(
        [[similarity_multiply(maps_chw[i], maps_chw[j]) for j in range(c)] for i in range(c)]
    )
