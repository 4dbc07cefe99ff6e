"""Capture at the cost of the forward: what a user gets (assembled arrays) against a plain pass.

For mnist_convnet over 2,000 images and a ResNet-18 layout (in-place ReLUs) over 256
images at 64x64, every layer captured, this times in one run, after a warm-up:

* a plain forward pass over the same batches (no hooks, outputs thrown away);
* ``cs.capture(model, x, "all")``: every layer's maps assembled into one array each;
* hand-written hooks, the notebook recipe: a hook per layer copying each output to numpy,
  the batches concatenated at the end (the same arrays convscope returns).

It prints seconds and the ratio to the plain pass, idle and (``--load``) with a second
process spinning on one core, counts the forward passes capture runs per batch (an
in-place ReLU must not make it run twice), and measures each method's peak memory in a
fresh process: capture must stay within the plain pass's peak plus the maps themselves.

Run: .venv/bin/python bench/capture.py [--load] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import torch
from _harness import condition, conditions, env_line, ms, save, timed
from _resnet import resnet

import convscope as cs

BATCH = 256
CASES = {  # name: (images, repeats)
    "mnist_convnet": (2000, 5),
    "resnet18": (256, 3),
}


def load_case(name: str, images: int) -> tuple[torch.nn.Module, np.ndarray]:
    """The model in eval mode and ``images`` images it takes."""
    if name == "mnist_convnet":
        torch.manual_seed(0)
        x = cs.data.load("mnist5k").x_train[:images]
        return cs.models.build("mnist_convnet").eval(), np.ascontiguousarray(x)
    x = np.random.default_rng(0).random((images, 3, 64, 64), dtype=np.float32)
    return resnet(18, image=64), x


def methods(model: torch.nn.Module, x: np.ndarray) -> dict[str, Callable[[], object]]:
    """The three ways to get every layer's maps (plain: none, only the forward's cost)."""
    tensor = torch.from_numpy(x)
    names = list(cs.capture(model, x[:2], "all"))  # what convscope captures, calls included
    modules = {
        n.split("#")[0]: model.get_submodule(n.split("#")[0].replace("/", ".")) for n in names
    }

    def plain() -> None:
        with torch.no_grad():
            for start in range(0, len(tensor), BATCH):
                model(tensor[start : start + BATCH])

    def convscope() -> dict[str, np.ndarray]:
        return cs.capture(model, x, "all", batch_size=BATCH)

    def hooks() -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
        calls: dict[str, int] = {}

        def make(module_name: str):
            def hook(_m, _i, output):
                k = calls.get(module_name, 0)
                calls[module_name] = k + 1
                key = module_name if k == 0 else f"{module_name}#{k}"
                if key in parts:
                    parts[key].append(output.detach().cpu().numpy().copy())

            return hook

        handles = [m.register_forward_hook(make(n)) for n, m in modules.items()]
        try:
            with torch.no_grad():
                for start in range(0, len(tensor), BATCH):
                    calls.clear()
                    model(tensor[start : start + BATCH])
        finally:
            for handle in handles:
                handle.remove()
        return {n: np.concatenate(p) for n, p in parts.items()}

    return {"plain": plain, "convscope": convscope, "hooks": hooks}


def forwards_per_batch(model: torch.nn.Module, x: np.ndarray) -> float:
    """How many times capture calls the model per batch (the traced pass is cached)."""
    cs.capture(model, x, "all", batch_size=BATCH)  # traced here, once
    count = [0]
    handle = model.register_forward_pre_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    try:
        cs.capture(model, x, "all", batch_size=BATCH)
    finally:
        handle.remove()
    return count[0] / -(-len(x) // BATCH)


def child(case: str, method: str) -> None:
    """In a fresh process: this method's peak memory above the loaded model and data."""
    model, x = load_case(case, CASES[case][0])
    run = methods(model, x)
    run["plain"]()  # torch's own allocations settle; the baseline includes them
    before = _status_mib("VmRSS")
    _reset_peak()
    result = run[method]()
    after = _status_mib("VmHWM")
    maps = sum(v.nbytes for v in result.values()) / 2**20 if isinstance(result, dict) else 0.0
    print(json.dumps({"extra_mib": max(0.0, after - before), "maps_mib": maps}))


def _status_mib(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: the peak) in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _reset_peak() -> None:
    """Start the peak (VmHWM) again from the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:  # not Linux: the lifetime peak stays
        pass


def peak_memory(case: str) -> dict[str, dict]:
    out = {}
    for method in ("plain", "convscope", "hooks"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", case, method],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[method] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def bench_case(case: str, busy: bool, quick: bool) -> dict:
    images, repeats = CASES[case]
    model, x = load_case(case, images)
    run = methods(model, x)
    times = {name: timed(fn, repeats=2 if quick else repeats, warmup=1) for name, fn in run.items()}
    ratio = times["convscope"]["median"] / times["plain"]["median"]
    hooks = times["hooks"]["median"] / times["plain"]["median"]
    print(
        f"{case}: {images} images, every layer: plain {ms(times['plain']['median'])}, "
        f"convscope {ms(times['convscope']['median'])} ({ratio:.2f}x plain), hand hooks "
        f"{ms(times['hooks']['median'])} ({hooks:.2f}x plain)"
    )
    return {"case": case, "images": images, "busy": busy, "times": times, "ratio": ratio,
            "hooks_ratio": hooks, "forwards_per_batch": forwards_per_batch(model, x)}  # fmt: skip


def readme_rows(rows: list[dict], memory: dict[str, dict]) -> list[dict]:
    out = []
    for row in rows:
        t = row["times"]
        mem = memory.get(row["case"], {})
        extra = (
            f"; peak +{mem['convscope']['extra_mib']:.0f} MiB vs plain "
            f"+{mem['plain']['extra_mib']:.0f} MiB + maps {mem['convscope']['maps_mib']:.0f} MiB"
            if mem and not row["busy"]
            else ""
        )
        out.append(
            {
                "work": f"all-layer capture, {row['case']}, {row['images']} images, assembled",
                "convscope": f"{ms(t['convscope']['median'])} ({row['forwards_per_batch']:.0f} "
                f"forward per batch){extra}",
                "reference": f"plain forward {ms(t['plain']['median'])}; hand hooks "
                f"{ms(t['hooks']['median'])}",
                "ratio": f"{row['ratio']:.2f}× plain (hooks {row['hooks_ratio']:.2f}×)",
                "condition": "busy (1 core loaded)" if row["busy"] else "idle",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="also run with a competing load")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(env_line())
    rows = []
    for name, busy in conditions(args.load):
        with condition(busy):
            print(f"\n== {name} ({env_line()})")
            rows += [bench_case(case, busy, args.quick) for case in CASES]
    print("\n== peak memory above the loaded model and data (fresh process per method)")
    memory = {}
    for case in CASES:
        memory[case] = peak_memory(case)
        m = memory[case]
        bound = m["plain"]["extra_mib"] + m["convscope"]["maps_mib"]
        print(
            f"{case}: plain +{m['plain']['extra_mib']:.0f} MiB, convscope "
            f"+{m['convscope']['extra_mib']:.0f} MiB (bound: plain + maps = {bound:.0f} MiB), "
            f"hand hooks +{m['hooks']['extra_mib']:.0f} MiB"
        )
    results = {"rows": rows, "memory": memory, "readme": readme_rows(rows, memory)}
    print("\nwrote", save("capture", results))


if __name__ == "__main__":
    main()
