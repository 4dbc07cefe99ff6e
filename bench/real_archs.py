"""Capture on the architectures people bring: torchvision and timm models, random weights.

Where torchvision and timm are installed (not here: their wheels on the package index are
CUDA builds; the device machine has them), for resnet18, mobilenet_v3_small,
efficientnet_b0, densenet121, convnext_tiny and timm's efficientnet_b0 this checks, on
four 224x224 images:

* the default capture runs (drop-path modules that do not run are skipped and named);
* every plain layer equals a hand-written hook's copy, bit for bit on the CPU;
* ConvNeXt's channels-last Linear/LayerNorm maps have their true (C, H, W);
* BatchNorm frozen in eval inside a model in train mode keeps its statistics byte for byte;
* capture time against a plain forward.

Run: python bench/real_archs.py [--device cuda]; writes bench/results/real_archs.json
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from _harness import env_line, save
from torch import nn

import convscope as cs


def zoo() -> dict[str, nn.Module]:
    models: dict[str, nn.Module] = {}
    try:
        import torchvision.models as tvm

        for name in (
            "resnet18",
            "mobilenet_v3_small",
            "efficientnet_b0",
            "densenet121",
            "convnext_tiny",
        ):
            models[name] = getattr(tvm, name)(weights=None)
    except Exception as exc:  # noqa: BLE001 - not installed, or a CUDA build that fails to load
        print(f"torchvision unavailable: {exc}")
    try:
        import timm

        models["timm_efficientnet_b0"] = timm.create_model("efficientnet_b0", pretrained=False)
    except Exception as exc:  # noqa: BLE001
        print(f"timm unavailable: {exc}")
    return models


def hooked(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, np.ndarray]:
    modules = dict(model.named_modules())
    out: dict[str, np.ndarray] = {}

    def keep(name: str):
        def hook(_m, _i, o) -> None:
            out.setdefault(name, o.detach().float().cpu().clone().numpy())

        return hook

    handles = [modules[n.replace("/", ".")].register_forward_hook(keep(n)) for n in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return out


def check(name: str, model: nn.Module, device: str) -> dict:
    model = model.to(device).eval()
    x = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        maps = cs.capture(model, x, batch_size=4)
        capture_s = time.perf_counter() - started
    skipped = [str(w.message) for w in caught if "did not run" in str(w.message)]
    modules = dict(model.named_modules())
    plain = [n for n in maps if "#" not in n and n.replace("/", ".") in modules]  # not parts
    want = hooked(model, x.to(device), plain)
    worst, transposed = 0.0, []
    for layer in plain:
        got, hook = maps[layer], want.get(layer)
        if hook is None:
            continue
        if hook.shape != got.shape and hook.ndim == 4:  # channels-last in the model
            hook = hook.transpose(0, 3, 1, 2)
            transposed.append(f"{layer} {got.shape[1:]}")
        worst = max(worst, float(np.abs(got - hook).max()))
    with torch.no_grad():
        started = time.perf_counter()
        model(x.to(device))
        plain_s = time.perf_counter() - started
    infos = cs.layers(model, input_shape=(3, 224, 224))
    # frozen BatchNorm: train mode, BN in eval; statistics must not move
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    stats = {k: v.detach().clone() for k, v in model.state_dict().items() if "running" in k}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs.capture(model, x[:2], "kind:conv", batch_size=2)
    with torch.no_grad():
        model(x[:2].to(device))
    moved = [k for k, v in stats.items() if not torch.equal(model.state_dict()[k], v)]
    model.eval()
    row = {
        "model": name,
        "layers": len(infos),
        "captured": len(maps),
        "not_run": skipped,
        "max_abs_diff_vs_hooks": worst,
        "channels_last_transposed": transposed[:6],
        "frozen_bn_moved": moved[:5],
        "capture_s": capture_s,
        "plain_s": plain_s,
    }
    print(
        f"{name}: {len(infos)} layers, {len(maps)} captured, max |capture - hooks| {worst:.2g}, "
        f"{len(transposed)} channels-last maps transposed, frozen BN moved: {len(moved)}, "
        f"not run: {skipped[0] if skipped else 'none'}; capture {capture_s:.2f} s vs forward "
        f"{plain_s:.2f} s"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(env_line())
    rows = [check(name, model, args.device) for name, model in zoo().items()]
    if rows:
        print("wrote", save(f"real_archs_{args.device}", {"rows": rows}))


if __name__ == "__main__":
    main()
