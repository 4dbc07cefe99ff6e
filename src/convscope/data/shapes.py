"""``shapes3`` — a generated three-class set of circles, squares and triangles."""

from __future__ import annotations

import numpy as np

from .._batching import batch_slices
from ..validation import check_int
from ._dataset import Dataset, from_pool

SHAPE_CLASSES = ["circle", "square", "triangle"]
MIN_CONTRAST = 0.35  # minimum RGB distance between a shape and its background


def _colours(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random background and foreground colours at least MIN_CONTRAST apart."""
    bg = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
    fg = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
    for _ in range(100):
        close = np.linalg.norm(fg - bg, axis=1) < MIN_CONTRAST
        if not close.any():
            break
        fg[close] = rng.uniform(0.0, 1.0, (int(close.sum()), 3))
    else:  # pragma: no cover - astronomically unlikely
        fg[close] = 1.0 - bg[close]
    return bg, fg


def _masks(kind: np.ndarray, cx, cy, r, theta, size: int) -> np.ndarray:
    """Boolean masks (n, size, size) of each shape from coordinate grids."""
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    masks = np.zeros((len(kind), size, size), dtype=bool)
    circle, square, tri = kind == 0, kind == 1, kind == 2
    if circle.any():
        rr = r[circle, None, None]
        masks[circle] = dx[circle] ** 2 + dy[circle] ** 2 <= rr**2
    if square.any():
        half = r[square, None, None] / np.sqrt(np.float32(2.0))  # r is the circumradius
        masks[square] = (np.abs(dx[square]) <= half) & (np.abs(dy[square]) <= half)
    if tri.any():
        inside = np.ones((int(tri.sum()), size, size), dtype=bool)
        inradius = r[tri, None, None] / 2.0
        for k in range(3):
            # edge normals sit between the vertices at theta + 2*pi*k/3
            angle = theta[tri] + np.pi / 3 + 2 * np.pi * k / 3
            nx = np.cos(angle).astype(np.float32)[:, None, None]
            ny = np.sin(angle).astype(np.float32)[:, None, None]
            inside &= dx[tri] * nx + dy[tri] * ny <= inradius
        masks[tri] = inside
    return masks


def make_shapes3(
    n_per_class: int = 300,
    image_size: int = 150,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> Dataset:
    """Generate the synthetic ``shapes3`` set: circles, squares and triangles on RGB images.

    Each image has one filled shape (axis-aligned square, freely rotated equilateral
    triangle, or circle) of random size and position, fully inside the frame, in a random
    colour on a random plain background. Everything is deterministic from ``seed``.

    Args:
        n_per_class: images per class.
        image_size: height and width (default 150, seed 004's model input).
        seed: drives both the drawing and the split.

    Returns:
        A :class:`Dataset` with ``synthetic=True``, images ``(3, image_size, image_size)``.

    Example:
        >>> ds = make_shapes3(10, 32)
        >>> ds.class_names, ds.input_shape, ds.synthetic
        (['circle', 'square', 'triangle'], (3, 32, 32), True)
    """
    n_per_class = check_int(n_per_class, "n_per_class", minimum=3)
    image_size = check_int(image_size, "image_size", minimum=16)
    rng = np.random.default_rng([seed, 3])
    n = 3 * n_per_class
    labels = np.repeat(np.arange(3, dtype=np.int64), n_per_class)
    labels = labels[rng.permutation(n)]
    # circumradius between 12% and 35% of the frame; centre keeps the shape inside
    r = rng.uniform(0.12, 0.35, n).astype(np.float32) * image_size
    margin = r + 1.0
    cx = (margin + rng.uniform(0, 1, n) * (image_size - 2 * margin)).astype(np.float32)
    cy = (margin + rng.uniform(0, 1, n) * (image_size - 2 * margin)).astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    bg, fg = _colours(rng, n)
    bg8 = np.round(bg * 255).astype(np.uint8)[:, :, None, None]
    fg8 = np.round(fg * 255).astype(np.uint8)[:, :, None, None]
    images = np.empty((n, 3, image_size, image_size), dtype=np.uint8)
    for sl in batch_slices(n, 128):
        mask = _masks(labels[sl], cx[sl], cy[sl], r[sl], theta[sl], image_size)[:, None]
        np.copyto(images[sl], np.where(mask, fg8[sl], bg8[sl]))
    return from_pool(
        "shapes3",
        SHAPE_CLASSES,
        images,
        labels,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        synthetic=True,
        description=(
            f"synthetic: {n} generated images ({n_per_class} per class) of a circle, square "
            f"or triangle, 3x{image_size}x{image_size}, random sizes, positions and colours"
        ),
    )
