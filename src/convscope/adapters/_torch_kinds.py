"""Layer kinds of torch modules: conv, pool, dense, norm, activation, dropout, flatten, block."""

from __future__ import annotations

from torch import nn

from ..models.zoo import GlobalAveragePooling2D

__all__ = ["CONV", "module_kind"]

CONV = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_POOL = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool2d,
    nn.FractionalMaxPool2d,
)  # fmt: skip
_NORM = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm,
    nn.RMSNorm, nn.SyncBatchNorm,
)  # fmt: skip
_ACT = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Sigmoid,
    nn.Tanh, nn.Softmax, nn.Softmin, nn.Softmax2d, nn.LogSoftmax, nn.PReLU, nn.RReLU,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Hardshrink, nn.Softshrink, nn.Tanhshrink,
    nn.Mish, nn.Softplus, nn.Softsign, nn.LogSigmoid, nn.GLU, nn.Threshold,
)  # fmt: skip
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def module_kind(module: nn.Module) -> str:
    """Classify a torch module as conv, pool, dense, norm, activation, dropout, flatten, block or other.

    Example:
        >>> module_kind(nn.MaxPool2d(2)), module_kind(GlobalAveragePooling2D()), module_kind(nn.Hardsigmoid())
        ('pool', 'pool', 'activation')
    """
    if isinstance(module, CONV):
        return "conv"
    if isinstance(module, (*_POOL, GlobalAveragePooling2D)):
        return "pool"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, _NORM):
        return "norm"
    if isinstance(module, _ACT):
        return "activation"
    if isinstance(module, _DROPOUT):
        return "dropout"
    if isinstance(module, nn.Flatten):
        return "flatten"
    if next(module.children(), None) is not None:
        return "block"
    return "other"
