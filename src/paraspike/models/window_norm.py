r"""Reversible instance normalisation of forecast windows (RevIN, Kim et al., ICLR 2022), without the
affine part: each window is standardised by its own statistics before the network and the forecast
is mapped back with them, so a level or scale shift between training and test periods does not reach
the network.

For a window ``x`` ``[B, L, C]`` and the network's output ``z`` ``[B, H, C]``:

.. math::
    \mu_{b,c} = \tfrac1L \sum_t x_{b,t,c}, \quad
    \sigma_{b,c} = \sqrt{\tfrac1L \sum_t (x_{b,t,c} - \mu_{b,c})^2 + \epsilon},

    \tilde x = (x - \mu) / \sigma, \quad \hat y = z \sigma + \mu.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["WindowNorm"]


class WindowNorm(nn.Module):
    """``normalize(x) -> (x_tilde, (mu, sigma))`` and ``restore(z, (mu, sigma)) -> y`` (see the module doc)."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        mean = x.mean(1, keepdim=True)
        std = (x.var(1, keepdim=True, unbiased=False) + self.eps).sqrt()
        return (x - mean) / std, (mean, std)

    def restore(self, z: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        mean, std = stats
        return z * std + mean
