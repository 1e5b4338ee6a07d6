r"""Parallel spiking neurons (PSN family, arXiv:2304.12760), computing what SpikingJelly 2.0.0 computes.

All three share one set of parameters over every neuron (SpikingJelly flattens ``[T, *]`` to
``[T, N]``) and fire ``S = Heaviside(H)`` with an arctan surrogate (alpha 2) by default:

* ``PSN(T)``: ``H = W X + B``, ``W`` ``[T, T]``, ``B`` ``[T, 1]`` (init: kaiming-uniform ``W``,
  ``B = -1``). Multi-step only, exactly ``T`` steps: it has no serial form.
* ``MaskedPSN(k, T)``: ``W`` masked to the band ``j <= i <= j + k - 1``, blended with the all-ones
  matrix by ``lambda_`` (``M(lambda) = lambda M_k + (1 - lambda) J``) during progressive masking.
* ``SlidingPSN(k)``: a causal ``k``-tap filter shared over time,
  ``H_t = sum_j w_j x_{t-(k-1)+j} + b`` (init: ``w_j = 2^-(k-1-j)``, ``b = -1``).

Defects of SpikingJelly 2.0.0 fixed here (same math otherwise; the tests compare against it):

* ``SlidingPSN`` multi-step mode ignores and drops its state (each call starts from zeros, and
  the last ``k-1`` inputs are not kept), so a stream fed in chunks gives different spikes than one
  call; here both modes keep the last ``k-1`` inputs. Multi-step runs as a ``k``-tap filter
  (``O(T k)``), not SpikingJelly's ``T x T`` matrix built by a Python loop (``O(T^2)`` memory,
  ``O(T^3)`` backward).
* ``MaskedPSN`` stops after ``T`` steps (single-step mode raises ``OverflowError``); once fully
  masked (``lambda_ >= 1``) it is a ``k``-tap filter with step-dependent taps, and here it continues
  past step ``T`` with the taps and bias of the last row (step ``T-1``), in both modes, with the
  state kept between calls. While ``lambda_ < 1`` the weight is dense and tied to ``T``: as in
  SpikingJelly, only multi-step calls of exactly ``T`` steps from a fresh state are allowed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from paraspike.neurons.base import MemoryModule, TorchScriptUnsupported
from paraspike.ops._checks import check_float_tensor, check_positive_int
from paraspike.ops.firing import heaviside, resolve_surrogate_alpha

__all__ = ["PSN", "MaskedPSN", "SlidingPSN"]


def _flatten_steps(x_seq: Tensor, name: str) -> Tensor:
    check_float_tensor(f"{name} input", x_seq, min_dim=2)
    if x_seq.shape[0] == 0:
        raise ValueError(f"{name} input has no time steps (dimension 0 has size 0)")
    return x_seq.flatten(1)


def _causal_taps(x: Tensor, history: Tensor | None, taps: list[Tensor]) -> Tensor:
    """``sum_j taps[j] * x_{t-(k-1)+j}`` over ``x`` ``[T, N]`` with the ``k-1`` inputs before it in
    ``history`` ``[k-1, N]`` (zeros if ``None``); each ``taps[j]`` broadcasts against ``[T, N]``."""
    k = len(taps)
    steps = x.shape[0]
    if k > 1:
        past = history if history is not None else x.new_zeros((k - 1, x.shape[1]))
        x = torch.cat([past, x], dim=0)
    out = taps[k - 1] * x[k - 1 :]
    for j in range(k - 1):
        out = torch.addcmul(out, taps[j], x[j : j + steps])
    return out


def _keep_history(history: Tensor | None, x: Tensor, keep: int) -> Tensor | None:
    """The last ``keep`` inputs after ``x`` ``[T, N]`` (``None`` when ``keep == 0``)."""
    if keep == 0:
        return None
    if x.shape[0] >= keep:
        return x[-keep:]
    past = history if history is not None else x.new_zeros((keep, x.shape[1]))
    return torch.cat([past[x.shape[0] :], x], dim=0)


def _psn_parameters(T: int) -> tuple[nn.Parameter, nn.Parameter]:
    """``W`` ``[T, T]`` (kaiming-uniform, ``a = sqrt(5)``) and ``B`` ``[T, 1] = -1``, as SpikingJelly
    initialises PSN and MaskedPSN."""
    weight = torch.empty(T, T)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return nn.Parameter(weight), nn.Parameter(torch.full((T, 1), -1.0))


class PSN(TorchScriptUnsupported, nn.Module):
    """Parallel spiking neuron: ``S = Heaviside(W X + B)`` over exactly ``T`` steps (multi-step only).

    Args:
        T: the number of time steps (the weight is ``T x T``).
        surrogate: surrogate gradient (SpikingJelly: ``surrogate.ATan()``).
        surrogate_alpha: the surrogate's sharpness (``None``: its default).
    """

    def __init__(self, T: int, surrogate: str = "atan", surrogate_alpha: float | None = None) -> None:
        super().__init__()
        check_positive_int("T", T)
        self.T = T
        self.surrogate = surrogate
        self.surrogate_alpha = resolve_surrogate_alpha(surrogate, surrogate_alpha)
        self.weight, self.bias = _psn_parameters(T)

    @property
    def step_mode(self) -> str:
        return "m"

    @step_mode.setter
    def step_mode(self, value: str) -> None:
        if value != "m":
            raise ValueError("PSN has no single-step form (its weight couples all T steps); use step_mode='m'")

    def reset(self) -> None:
        """PSN has no state between calls (each call is one whole sequence)."""

    def forward(self, x_seq: Tensor) -> Tensor:
        """Spikes ``[T, *]`` for inputs ``[T, *]``."""
        flat = _flatten_steps(x_seq, "PSN")
        if flat.shape[0] != self.T:
            raise ValueError(
                f"PSN was built for T={self.T} steps but the input has {flat.shape[0]} (shape {tuple(x_seq.shape)})"
            )
        h = torch.addmm(self.bias, self.weight, flat)
        return heaviside(h, self.surrogate, self.surrogate_alpha).view(x_seq.shape)

    def extra_repr(self) -> str:
        return f"T={self.T}, surrogate={self.surrogate!r}"


class MaskedPSN(MemoryModule):
    """Masked PSN: ``H = (W . M_k(lambda)) X + B``; see the module docstring for the fixed defect.

    Args:
        k: the order (taps per step once fully masked).
        T: the number of trained time steps.
        lambda_init: initial ``lambda_`` (0: dense; raise it to 1 during training).
        surrogate: surrogate gradient (default arctan, alpha 2).
        surrogate_alpha: the surrogate's sharpness (``None``: its default).
        step_mode: ``"m"`` or ``"s"``.
        weight_init: ``"kaiming"`` (SpikingJelly's: kaiming-uniform over fan-in ``T``, so each of the
            ``k`` taps that survive masking starts near ``1/sqrt(T)``: at long ``T`` the neuron starts
            silent) or ``"sliding"`` (every row starts as :class:`SlidingPSN`'s taps ``2^-(k-1-j)`` on
            its band and zero elsewhere: a sliding PSN that may learn to read further back while dense).
    """

    def __init__(
        self,
        k: int,
        T: int,
        lambda_init: float = 0.0,
        surrogate: str = "atan",
        surrogate_alpha: float | None = None,
        step_mode: str = "m",
        weight_init: str = "kaiming",
    ) -> None:
        super().__init__(step_mode)
        check_positive_int("k", k)
        check_positive_int("T", T)
        self.k, self.T = k, T
        self.surrogate = surrogate
        self.surrogate_alpha = resolve_surrogate_alpha(surrogate, surrogate_alpha)
        self.weight, self.bias = _psn_parameters(T)
        ones = torch.ones(T, T)
        band = torch.tril(ones) * torch.triu(ones, -(k - 1))
        if weight_init == "sliding":  # W[i, i - (k-1) + j] = 2^-(k-1-j): the diagonal d = i - col gets 2^-d
            distance = torch.arange(T).unsqueeze(1) - torch.arange(T).unsqueeze(0)
            with torch.no_grad():
                self.weight.copy_(band * torch.pow(2.0, -distance.clamp(min=0).float()))
        elif weight_init != "kaiming":
            raise ValueError(f"MaskedPSN weight_init must be 'kaiming' or 'sliding', got {weight_init!r}")
        self.register_buffer("mask0", band)
        self.register_buffer("mask1", ones)
        self.register_buffer("_lambda", torch.as_tensor(float(lambda_init)))
        self.register_memory("time_step")
        self.register_memory("history")

    @property
    def lambda_(self) -> Tensor:
        """Progressive-masking coefficient (set it with ``module.lambda_ = value``)."""
        return self._lambda

    @lambda_.setter
    def lambda_(self, value: float) -> None:
        self._lambda.fill_(float(value))

    def masked_weight(self) -> Tensor:
        """``W . M_k`` when ``lambda_ >= 1``, else ``W . (lambda M_k + (1 - lambda) J)``."""
        if self._lambda >= 1.0:
            return self.weight * self.mask0
        return (self._lambda * self.mask0 + (1.0 - self._lambda) * self.mask1) * self.weight

    def _band_taps(self, start: int, steps: int) -> tuple[list[Tensor], Tensor]:
        """Taps ``[k]`` of ``[steps, 1]`` and bias ``[steps, 1]`` for steps ``start..start+steps-1``;
        rows past ``T-1`` reuse row ``T-1``."""
        k, T = self.k, self.T
        rows = torch.clamp(torch.arange(start, start + steps, device=self.weight.device), max=T - 1)
        weight = self.masked_weight()
        padded = torch.cat([weight.new_zeros(T, k - 1), weight], dim=1)  # column c of weight -> c + k-1
        # tap j of row r reads x_{r-(k-1)+j}: weight column r-(k-1)+j -> padded column r + j
        taps = [padded[rows, rows + j].unsqueeze(1) for j in range(k)]
        return taps, self.bias[rows]

    def _dense_forward(self, flat: Tensor) -> Tensor:
        if self.time_step is not None:
            raise ValueError("MaskedPSN with lambda_ < 1 is tied to whole sequences of T steps; call reset() first")
        if flat.shape[0] != self.T:
            raise ValueError(
                f"MaskedPSN with lambda_ < 1 needs exactly T={self.T} steps, got {flat.shape[0]} "
                "(once lambda_ reaches 1 it runs on any length)"
            )
        self.time_step = self.T
        self.history = _keep_history(None, flat, self.k - 1)
        return torch.addmm(self.bias, self.masked_weight(), flat)

    def _banded_forward(self, flat: Tensor) -> Tensor:
        start = 0 if self.time_step is None else self.time_step
        if self.history is not None and self.history.shape[1:] != flat.shape[1:]:
            raise ValueError("MaskedPSN state does not match the input shape; call reset() between sequences")
        taps, bias = self._band_taps(start, flat.shape[0])
        h = _causal_taps(flat, self.history, taps) + bias
        self.history = _keep_history(self.history, flat, self.k - 1)
        self.time_step = start + flat.shape[0]
        return h

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """Spikes ``[T', *]`` for inputs ``[T', *]`` (``T' = T`` while ``lambda_ < 1``)."""
        flat = _flatten_steps(x_seq, "MaskedPSN")
        h = self._banded_forward(flat) if self._lambda >= 1.0 else self._dense_forward(flat)
        return heaviside(h, self.surrogate, self.surrogate_alpha).view(x_seq.shape)

    def single_step_forward(self, x: Tensor) -> Tensor:
        """Spikes ``[*]`` for one step; needs ``lambda_ >= 1`` (as in SpikingJelly)."""
        if self._lambda < 1.0:
            raise ValueError("MaskedPSN runs step by step only once fully masked (lambda_ >= 1)")
        return self.multi_step_forward(x.unsqueeze(0))[0]

    def extra_repr(self) -> str:
        return f"k={self.k}, T={self.T}, lambda_={self._lambda.item()}, step_mode={self.step_mode!r}"


class SlidingPSN(MemoryModule):
    """Sliding PSN: ``H_t = sum_j w_j x_{t-(k-1)+j} + b`` (a causal ``k``-tap filter shared over time).

    Args:
        k: the order (taps).
        exp_init: initialise ``w_j = 2^-(k-1-j)`` (else kaiming-uniform, as SpikingJelly).
        surrogate: surrogate gradient (default arctan, alpha 2).
        surrogate_alpha: the surrogate's sharpness (``None``: its default).
        step_mode: ``"m"`` or ``"s"``; both keep the last ``k-1`` inputs between calls.
    """

    def __init__(
        self,
        k: int,
        exp_init: bool = True,
        surrogate: str = "atan",
        surrogate_alpha: float | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__(step_mode)
        check_positive_int("k", k)
        self.k = k
        self.surrogate = surrogate
        self.surrogate_alpha = resolve_surrogate_alpha(surrogate, surrogate_alpha)
        if exp_init:
            weight = torch.tensor([0.5 ** (k - 1 - j) for j in range(k)])
        else:
            weight = torch.ones(1, k)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            weight = weight[0]
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.as_tensor(-1.0))
        self.register_memory("history")

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """Spikes ``[T, *]`` for inputs ``[T, *]``, continuing from the kept inputs."""
        flat = _flatten_steps(x_seq, "SlidingPSN")
        if self.history is not None and self.history.shape[1:] != flat.shape[1:]:
            raise ValueError("SlidingPSN state does not match the input shape; call reset() between sequences")
        h = _causal_taps(flat, self.history, list(self.weight.unbind(0))) + self.bias
        self.history = _keep_history(self.history, flat, self.k - 1)
        return heaviside(h, self.surrogate, self.surrogate_alpha).view(x_seq.shape)

    def single_step_forward(self, x: Tensor) -> Tensor:
        """Spikes ``[*]`` for one step."""
        return self.multi_step_forward(x.unsqueeze(0))[0]

    def extra_repr(self) -> str:
        return f"k={self.k}, step_mode={self.step_mode!r}"
