"""The report on a ResNet-50-sized model at 224x224: time, peak memory, and what it drew.

``convscope report`` on the zoo's small models takes seconds; users bring ResNet-50
(25 M parameters, 53 conv layers of up to 2,048 channels, 161 layers in all, maps of
112x112). This builds the torchvision ResNet-50 layout (:mod:`_resnet`, random weights)
on a handful of 224x224 images and writes its report, timing each step, and prints:

* the wall time of the whole report and of each step;
* the peak memory above the loaded model and images;
* how much it drew: figures, the largest figure in pixels, the page's size.

Run: .venv/bin/python bench/report_big.py [--images 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import env_line, save
from _resnet import resnet

import convscope as cs


def status_mib(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: the peak) in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass


def dataset(images: int, classes: int) -> cs.data.Dataset:
    """Smooth random 224x224 RGB images (blobs, not noise), ``classes`` labels in turn."""
    rng = np.random.default_rng(0)
    small = rng.random((images, 3, 14, 14), dtype=np.float32)
    x = np.stack([cs.render.resize_bilinear(img, (224, 224)) for img in small]).astype(np.float32)
    y = np.arange(images) % classes
    names = [f"class {k}" for k in range(classes)]
    return cs.data.Dataset("blobs224", names, x, y, x, y, x, y, synthetic=True)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header: a 262-megapixel belt is no bomb to measure."""
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def drawn(out: Path) -> dict:
    figures = sorted((out / "figures").glob("*.*"))
    sizes = [png_size(p) for p in figures if p.suffix == ".png"]
    biggest = max(sizes, key=lambda s: s[0] * s[1]) if sizes else (0, 0)
    largest = sorted(
        ((png_size(p), p.name) for p in figures if p.suffix == ".png"),
        key=lambda item: -item[0][0] * item[0][1],
    )[:5]
    return {
        "largest": [f"{name} {w}x{h}" for (w, h), name in largest],
        "figures": len(figures),
        "figure_mib": sum(p.stat().st_size for p in figures) / 2**20,
        "largest_png_px": list(biggest),
        "html_kib": (out / "index.html").stat().st_size / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images in the split (default 8)")
    parser.add_argument("--out", help="report folder (default: a temporary one)")
    args = parser.parse_args()
    print(env_line())
    classes = 4
    model = resnet(50, num_classes=classes, image=224)
    data = dataset(args.images, classes)
    params = sum(p.numel() for p in model.parameters())
    layers = cs.layers(model)
    print(
        f"{model.arch}: {params / 1e6:.1f} M parameters, {len(layers)} layers; {args.images} images 224x224"
    )
    out = Path(args.out or tempfile.mkdtemp(prefix="report_big_"))
    marks: list[tuple[str, float]] = []  # each step's name and start

    before = status_mib("VmRSS")
    reset_peak()
    started = time.perf_counter()
    report = cs.report.build_report(
        model, data, out, similarity_images=4,
        progress=lambda name: marks.append((name, time.perf_counter())),
    )  # fmt: skip
    ended = time.perf_counter()
    total, peak = ended - started, status_mib("VmHWM") - before
    ends = [t for _, t in marks[1:]] + [ended]
    steps = [(name, end - start) for (name, start), end in zip(marks, ends, strict=True)]
    shown = drawn(out)
    print(
        f"report: {total:.1f} s, peak memory +{peak:.0f} MiB above model and images ({report.index})"
    )
    print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps))
    print(
        f"  drew {shown['figures']} figures ({shown['figure_mib']:.1f} MiB), largest PNG "
        f"{shown['largest_png_px'][0]}x{shown['largest_png_px'][1]} px, page {shown['html_kib']:.0f} KiB"
    )
    print("  largest figures: " + "; ".join(shown["largest"]))
    results = {
        "model": model.arch, "params": params, "layers": len(layers), "images": args.images,
        "total_s": total, "peak_mib": peak, "steps": steps, "drawn": shown,
        "readme": [{
            "work": f"`convscope report`, {model.arch} ({params / 1e6:.1f} M params, "
            f"{len(layers)} layers), {args.images} images 224×224",
            "convscope": f"{total:.1f} s, peak +{peak:.0f} MiB",
            "reference": f"{shown['figures']} figures, largest {shown['largest_png_px'][0]}×"
            f"{shown['largest_png_px'][1]} px",
            "ratio": "—",
            "condition": "idle",
        }],
    }  # fmt: skip
    print("wrote", save("report_big", results))


if __name__ == "__main__":
    main()
