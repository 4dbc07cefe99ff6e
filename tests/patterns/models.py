"""Small torch models, each reproducing one pattern of the architectures people bring.

torchvision's wheel on the package index is a CUDA build that does not import against the
CPU torch, so the patterns are written here, tiny (a few channels, 16-24 pixel inputs):

* ``residual``: ResNet basic blocks, BatchNorm, in-place ReLU, a ReLU module used twice.
* ``drop_path``: EfficientNet-style blocks whose drop-path runs only with a residual.
* ``squeeze_excite``: a squeeze-excitation block (1x1 convs on 1x1 maps) as in
  MobileNetV3/EfficientNet.
* ``convnext``: ConvNeXt blocks, Linear/LayerNorm over the last axis of (N, H, W, C)
  tensors, one block permuting with functions, one with a Permute module.
* ``tuple_out``: a layer returning a tuple, an attention layer returning (output,
  weights) whose own ``out_proj`` never runs as a module, a layer returning a dict.
* ``two_inputs``: ``forward(image, mask)``; ``keyword``: ``forward(image, *, gain=None)``.
* ``shared``: one conv module applied twice.
* ``functional``: only convs and a Linear as modules, ``F.relu``/``F.max_pool2d`` between.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CLASSES = 3


def _seeded(cls, *args, **kwargs):
    torch.manual_seed(0)
    model = cls(*args, **kwargs)
    for module in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


class BasicBlock(nn.Module):
    """torchvision's ResNet block: the same in-place ReLU module is called twice."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Residual(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(width), BasicBlock(width))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class DropPath(nn.Module):
    """Stochastic depth: drops whole samples in training, the identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = (torch.rand(len(x), 1, 1, 1, device=x.device) > self.p).to(x.dtype)
        return x * keep / (1 - self.p)


class MBBlock(nn.Module):
    """An inverted-residual block; its drop-path runs only when there is a residual."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.use_res = cin == cout and stride == 1
        self.expand = nn.Conv2d(cin, cin * 2, 1)
        self.depthwise = nn.Conv2d(cin * 2, cin * 2, 3, stride, 1, groups=cin * 2)
        self.act = nn.SiLU()
        self.project = nn.Conv2d(cin * 2, cout, 1)
        self.drop_path = DropPath(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.act(self.depthwise(self.act(self.expand(x)))))
        return x + self.drop_path(out) if self.use_res else out


class DropPathNet(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.Sequential(MBBlock(4, 6, 2), MBBlock(6, 6, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


class SENet(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.Hardswish()
        self.se = SqueezeExcite(8, 4)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.se(self.act(self.conv(x))))
        return self.fc(self.pool(x).flatten(1))


class Permute(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class CNBlock(nn.Module):
    """A ConvNeXt block: depthwise conv in NCHW, then LayerNorm and an MLP channels-last."""

    def __init__(self, dim: int, permute_modules: bool) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.to_last = Permute([0, 2, 3, 1]) if permute_modules else None
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x)
        y = self.to_last(y) if self.to_last is not None else y.permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    input_shape = (3, 24, 24)
    dim = 12  # C (12) differs from H = W (6): a channels-last map cannot pass for NCHW

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, self.dim, 4, stride=4)
        self.stages = nn.Sequential(CNBlock(self.dim, False), CNBlock(self.dim, True))
        self.head_norm = nn.LayerNorm(self.dim)
        self.head = nn.Linear(self.dim, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(self.head_norm(x.mean((2, 3))))


class Pair(nn.Module):
    """A leaf layer returning a tuple (positive and negative parts)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.relu(x), F.relu(-x)


class Named(nn.Module):
    """A leaf layer returning a dict."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mean": x.mean((2, 3)), "max": x.amax((2, 3))}


class TupleOut(nn.Module):
    input_shape = (3, 12, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.split = Pair()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.summary = Named()
        self.fc = nn.Linear(32, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos, neg = self.split(self.conv(x))
        tokens = pos.flatten(2).transpose(1, 2)  # (N, H*W, C)
        attended, _weights = self.attention(tokens, tokens, tokens)
        stats = self.summary(neg)
        pooled = attended.mean(1)
        return self.fc(torch.cat([pooled, stats["mean"], stats["max"], pos.mean((2, 3))], 1))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, CLASSES)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.conv(image)) * mask).flatten(1))


class Keyword(nn.Module):
    input_shape = (3, 12, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, CLASSES)

    def forward(self, image: torch.Tensor, *, gain: torch.Tensor | None = None) -> torch.Tensor:
        y = self.relu(self.conv(image))
        if gain is not None:
            y = y * gain.view(-1, 1, 1, 1)
        return self.fc(self.pool(y).flatten(1))


class Shared(nn.Module):
    input_shape = (3, 12, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)  # applied twice: shared weights
        self.relu = nn.ReLU()
        self.fc = nn.Linear(3, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv(self.relu(self.conv(x))))
        return self.fc(y.mean((2, 3)))


class Functional(nn.Module):
    input_shape = (1, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc = nn.Linear(8 * 5 * 5, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


def build(name: str) -> nn.Module:
    """A seeded, eval-mode pattern model by name."""
    classes = {
        "residual": Residual,
        "drop_path": DropPathNet,
        "squeeze_excite": SENet,
        "convnext": ConvNeXt,
        "tuple_out": TupleOut,
        "two_inputs": TwoInputs,
        "keyword": Keyword,
        "shared": Shared,
        "functional": Functional,
    }
    return _seeded(classes[name])


SINGLE_INPUT = ["residual", "drop_path", "squeeze_excite", "convnext", "tuple_out", "keyword",
                "shared", "functional"]  # fmt: skip
