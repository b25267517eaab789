"""The standard FID feature network, for users who have its weights locally (nothing is downloaded).

The network is Inception-v3 as ported from TensorFlow's 2015-12-05 graph for FID (Heusel et al. 2017;
the weights file ``pt_inception-2015-12-05-6726825d.pth`` of the pytorch-fid project). It differs from
torchvision's Inception-v3 in three places, all reproduced here: average pools inside the blocks ignore
the zero padding (TensorFlow's behaviour), the last block pools with a max instead of an average, and
the classifier has 1008 outputs (unused). Features are the 2048 averages after the last block, for
images resized bilinearly to 299x299, grey images repeated to three channels, values scaled to [-1, 1].

Weights are read from a ``.safetensors`` file, or from the original ``.pth`` with torch's tensors-only
loader (``weights_only=True``: nothing in the file can run code) after checking its SHA-256 prefix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NeuralzooError

SHA256_PREFIX = "6726825d"   # of pt_inception-2015-12-05-6726825d.pth


class Conv(nn.Module):
    """Convolution without bias, batch norm (eps 0.001, as in the TensorFlow graph), ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def avg_pool(x: torch.Tensor) -> torch.Tensor:   # TensorFlow's: padding not counted
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class BlockA(nn.Module):
    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = Conv(cin, 48, 1), Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, padding=1), Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(cin, pool, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(avg_pool(x))], 1)


class BlockB(nn.Module):   # grid reduction 35 -> 17
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(cin, 64, 1), Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, 2)], 1)


class BlockC(nn.Module):   # factorised 7x7 convolutions
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1, self.branch7x7_2 = Conv(cin, c7, 1), Conv(c7, c7, **row)
        self.branch7x7_3 = Conv(c7, 192, **col)
        self.branch7x7dbl_1, self.branch7x7dbl_2 = Conv(cin, c7, 1), Conv(c7, c7, **col)
        self.branch7x7dbl_3, self.branch7x7dbl_4 = Conv(c7, c7, **row), Conv(c7, c7, **col)
        self.branch7x7dbl_5 = Conv(c7, 192, **row)
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(avg_pool(x))], 1)


class BlockD(nn.Module):   # grid reduction 17 -> 8
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = Conv(cin, 192, 1), Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)


class BlockE(nn.Module):   # expanded filter bank; the last one pools with a max (FID graph)
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
        self.max_pool = max_pool
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a, self.branch3x3_2b = Conv(384, 384, **row), Conv(384, 384, **col)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(cin, 448, 1), Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a, self.branch3x3dbl_3b = Conv(384, 384, **row), Conv(384, 384, **col)
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else avg_pool(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), self.branch_pool(pooled)], 1)


class FIDInception(nn.Module):
    """Images (B, 1 or 3, H, W) in [0, 1] -> 2048-d pool features. Parameter names follow the
    weights file, so its state dict loads unchanged (the 1008-way classifier is not used)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3, self.Conv2d_2a_3x3 = Conv(3, 32, 3, stride=2), Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1, self.Conv2d_4a_3x3 = Conv(64, 80, 1), Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b, self.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b, self.Mixed_7c = BlockE(1280, max_pool=False), BlockE(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, 2)))
        x = F.max_pool2d(x, 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean((2, 3))   # (B, 2048)


def load_inception(path: str | Path) -> FIDInception:
    path = Path(path)
    if not path.is_file():
        raise NeuralzooError(f"{path}: Inception weights not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
    else:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not digest.startswith(SHA256_PREFIX):
            raise NeuralzooError(f"{path}: not the FID Inception weights (sha256 {digest[:8]}..., "
                                 f"expected {SHA256_PREFIX}...: pt_inception-2015-12-05-6726825d.pth)")
        try:
            tensors = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:   # a corrupt or foreign file: one line, never its code
            raise NeuralzooError(f"{path}: cannot read Inception weights ({type(e).__name__})") from None
    net = FIDInception()
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in tensors and not k.endswith("num_batches_tracked")]
    shapes = [k for k in wanted if k in tensors and tensors[k].shape != wanted[k].shape]
    if missing or shapes:
        raise NeuralzooError(f"{path}: not FID Inception-v3 weights ({len(missing)} tensors missing, "
                             f"{len(shapes)} of another shape; e.g. {(missing or shapes)[0]})")
    net.load_state_dict({k: tensors[k] for k in wanted if k in tensors}, strict=False)
    return net.eval().requires_grad_(False)


class InceptionFeatures:
    """The ``quality`` feature-network interface for Inception: (features, no class predictions)."""

    def __init__(self, path: str | Path) -> None:
        self.net = load_inception(path)
        self.name = f"Inception-v3 FID weights ({Path(path).name}), 2048-d pool features, 299x299 bilinear"

    def __call__(self, x: torch.Tensor, batch_size: int = 50) -> tuple[torch.Tensor, None]:
        from ..models.base import batched

        return batched(self.net, x, batch_size=batch_size, module=self.net), None
