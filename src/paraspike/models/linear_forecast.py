r"""A linear forecaster: the non-spiking, non-learned-feature reference every forecasting table needs.

``NLinear`` of Zeng et al. (2023), "Are Transformers effective for time series forecasting?": for
each variable ``c`` of a window ``x`` ``[B, L, C]``,

.. math::
    \hat y_{:, c} = W (x_{:, c} - x_{L, c}) + b + x_{L, c}, \qquad W \in \mathbb{R}^{H \times L}

one ``W`` shared by all variables (``subtract_last=False`` drops the last-value shift: plain
``Linear``). Output ``[B, H, C]``. It has no neurons; configs set ``model.neuron=identity``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

__all__ = ["LinearForecaster"]


class LinearForecaster(nn.Module):
    """``[B, L, C]`` -> ``[B, horizon, C]`` by one linear map over the window (see the module doc)."""

    def __init__(
        self,
        variables: int,
        window: int,
        horizon: int,
        neuron: str = "identity",
        neuron_options: dict[str, Any] | None = None,
        subtract_last: bool = True,
    ) -> None:
        super().__init__()
        if neuron not in ("identity", "none"):
            raise ValueError(
                f"the linear forecaster has no neurons (got model.neuron={neuron!r}); set model.neuron=identity"
            )
        self.variables, self.window, self.subtract_last = variables, window, subtract_last
        self.map = nn.Linear(window, horizon)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.window, self.variables):
            raise ValueError(
                f"LinearForecaster expects [B, {self.window}, {self.variables}] windows, got shape {tuple(x.shape)}"
            )
        last = x[:, -1:, :] if self.subtract_last else x.new_zeros(())
        return self.map((x - last).transpose(1, 2)).transpose(1, 2) + last
