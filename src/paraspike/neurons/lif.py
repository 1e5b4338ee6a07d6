r"""Leaky integrate-and-fire baselines, computing what SpikingJelly 2.0.0 computes.

Per step, with input ``x_t``, state ``v`` and ``r`` = ``v_reset`` for a hard reset, 0 otherwise
(SpikingJelly's ``lif_charge`` / ``plif`` reference formulas, kept operation for operation)::

    LIF  charge:  h = v + (x - (v - r)) / tau           (decay_input=True)
                  h = v - (v - r) / tau + x              (decay_input=False)
    PLIF charge:  the same with 1/tau replaced by sigmoid(w), w learned (one scalar per layer)
    fire:         s = Heaviside(h - V_th)                surrogate gradient (default sigmoid, alpha 4)
    reset:        hard  v = s * v_reset + (1 - s) * h
                  soft  v = h - s * V_th
                  none  v = h                            (linear: multi-step runs as a parallel scan)
    I-LIF:        h = (1 - 1/tau) v + x,  s = round(clamp(h / V_th, 0, N)),  v = h - s * V_th
                  (integer spike counts, straight-through gradient on 0 <= h/V_th <= N)

Layouts as for the DSN: ``step_mode='m'`` takes ``[T, B, C, *]``, ``'s'`` takes ``[B, C, *]``; the
state carries over between calls until ``reset()``. Multi-step mode with a reset loops over time
(the reset makes the recurrence nonlinear: this is the serial cost the DSN removes).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from paraspike.neurons.base import MemoryModule
from paraspike.ops import linear_scan
from paraspike.ops._checks import check_float_tensor, check_positive_int
from paraspike.ops.firing import heaviside, resolve_surrogate_alpha, round_count_fire

__all__ = ["LIF", "PLIF", "ILIF", "RESETS"]

RESETS = ("hard", "soft", "none")


def _check_input(module: nn.Module, x: Tensor, multi_step: bool) -> None:
    name = type(module).__name__
    check_float_tensor(f"{name} input", x, min_dim=1 if not multi_step else 2)
    if multi_step and x.shape[0] == 0:
        raise ValueError(f"{name} input has no time steps (dimension 0 has size 0)")


class LIF(MemoryModule):
    """Leaky integrate-and-fire neuron (SpikingJelly's ``LIFNode``), with hard, soft or no reset.

    Args:
        tau: membrane time constant ``> 1``.
        decay_input: whether the input is scaled by ``1/tau`` too.
        v_threshold: firing threshold ``V_th``.
        reset: ``"hard"`` (to ``v_reset``), ``"soft"`` (subtract ``V_th``) or ``"none"``.
        v_reset: the hard-reset potential (also the leak's resting potential and the initial ``v``).
        surrogate: surrogate gradient of the Heaviside (SpikingJelly's default
            ``surrogate.Sigmoid()`` is ``"sigmoid"`` with alpha 4).
        surrogate_alpha: the surrogate's sharpness (``None``: its default).
        detach_reset: do not backpropagate through the reset.
        step_mode: ``"m"`` or ``"s"``.
        backend: scan backend for ``reset="none"`` in multi-step mode.
    """

    def __init__(
        self,
        tau: float = 2.0,
        decay_input: bool = True,
        v_threshold: float = 1.0,
        reset: str = "hard",
        v_reset: float = 0.0,
        surrogate: str = "sigmoid",
        surrogate_alpha: float | None = None,
        detach_reset: bool = False,
        step_mode: str = "m",
        backend: str = "auto",
    ) -> None:
        super().__init__(step_mode)
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        self._check_tau(tau)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)
        self.v_threshold = float(v_threshold)
        self.reset_mode = reset
        self.v_reset = float(v_reset)
        self.surrogate = surrogate
        self.surrogate_alpha = resolve_surrogate_alpha(surrogate, surrogate_alpha)
        self.detach_reset = bool(detach_reset)
        self.backend = backend
        self.register_memory("v")

    @staticmethod
    def _check_tau(tau: float) -> None:
        if not (isinstance(tau, (int, float)) and tau > 1.0 and math.isfinite(tau)):
            raise ValueError(f"tau must be a finite number > 1 (the leak is 1/tau per step), got {tau!r}")

    @property
    def _rest(self) -> float:
        """``r``: the potential the leak pulls towards (SpikingJelly: v_reset for hard reset, else 0)."""
        return self.v_reset if self.reset_mode == "hard" else 0.0

    def _leak(self) -> float | Tensor:
        return 1.0 / self.tau

    def _charge(self, x: Tensor, v: Tensor) -> Tensor:
        if self.decay_input:
            return v + (x - (v - self._rest)) / self.tau
        return v - (v - self._rest) / self.tau + x

    def _initial_v(self, x: Tensor) -> Tensor:
        if self.v is not None:
            if self.v.shape != x.shape:
                raise ValueError(
                    f"{type(self).__name__} state has shape {tuple(self.v.shape)} but the input step is "
                    f"{tuple(x.shape)}; call reset() between sequences of different shapes"
                )
            return self.v
        return torch.full_like(x, self._rest)

    def _step(self, x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        h = self._charge(x, v)
        spike = heaviside(h - self.v_threshold, self.surrogate, self.surrogate_alpha)
        if self.reset_mode == "none":
            return spike, h
        s = spike.detach() if self.detach_reset else spike
        if self.reset_mode == "hard":
            return spike, s * self.v_reset + (1.0 - s) * h
        return spike, h - s * self.v_threshold

    def single_step_forward(self, x: Tensor) -> Tensor:
        """Spikes ``[B, C, *]`` for one step."""
        _check_input(self, x, multi_step=False)
        spike, self.v = self._step(x, self._initial_v(x))
        return spike

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """Spikes ``[T, B, C, *]``: a loop over time, or a parallel scan when ``reset="none"``."""
        _check_input(self, x_seq, multi_step=True)
        v = self._initial_v(x_seq[0])
        if self.reset_mode == "none":
            return self._scan_forward(x_seq, v)
        spikes = []
        for x in x_seq.unbind(0):  # unbind, not x_seq[t]: indexing is O(T^2) in backward
            spike, v = self._step(x, v)
            spikes.append(spike)
        self.v = v
        return torch.stack(spikes)

    def _scan_forward(self, x_seq: Tensor, v: Tensor) -> Tensor:
        # Without reset the charge is linear: h_t = (1 - q) h_{t-1} + q x_t (decay_input)
        # or h_t = (1 - q) h_{t-1} + x_t, with q = 1/tau (or sigmoid(w)).
        q = self._leak()
        q_t = torch.as_tensor(q, dtype=x_seq.dtype, device=x_seq.device)
        drive = x_seq * q_t if self.decay_input else x_seq  # resting potential r = 0 without reset
        log_decay = torch.log1p(-q_t).expand_as(x_seq)
        h_seq, self.v = linear_scan(drive, log_decay, v, backend=self.backend)
        return heaviside(h_seq - self.v_threshold, self.surrogate, self.surrogate_alpha)

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, decay_input={self.decay_input}, v_threshold={self.v_threshold}, "
            f"reset={self.reset_mode!r}, v_reset={self.v_reset}, surrogate={self.surrogate!r}, "
            f"step_mode={self.step_mode!r}"
        )


class PLIF(LIF):
    """Parametric LIF (SpikingJelly's ``ParametricLIFNode``): ``1/tau = sigmoid(w)`` with ``w`` learned,
    one scalar per layer, initialised to ``w = -log(init_tau - 1)``."""

    def __init__(self, init_tau: float = 2.0, **options) -> None:
        self._check_tau(init_tau)
        super().__init__(tau=init_tau, **options)
        self.w = nn.Parameter(torch.as_tensor(-math.log(init_tau - 1.0)))

    def _leak(self) -> Tensor:
        return self.w.sigmoid()

    def _charge(self, x: Tensor, v: Tensor) -> Tensor:
        q = self._leak()
        if self.decay_input:
            return v + (x - (v - self._rest)) * q
        return v - (v - self._rest) * q + x

    def extra_repr(self) -> str:
        with torch.no_grad():
            tau = 1.0 / self._leak().item()
        return super().extra_repr().replace(f"tau={self.tau}", f"tau={tau:.4g} (learned)")


class ILIF(LIF):
    """Integer LIF (SpikingJelly's ``ILIFNode``): soft reset, integer spike counts ``0..N``.

    ``h = (1 - 1/tau) v + x``, ``s = round(clamp(h / V_th, 0, N))``, ``v = h - s V_th``, with a
    straight-through gradient where ``0 <= h/V_th <= N``. Defaults as SpikingJelly: ``tau = 4/3``, ``N = 4``.
    """

    def __init__(
        self,
        tau: float = 4.0 / 3.0,
        v_threshold: float = 1.0,
        max_spike: int = 4,
        detach_reset: bool = False,
        step_mode: str = "m",
    ) -> None:
        check_positive_int("max_spike", max_spike)
        super().__init__(
            tau=tau,
            decay_input=False,
            v_threshold=v_threshold,
            reset="soft",
            detach_reset=detach_reset,
            step_mode=step_mode,
        )
        self.max_spike = max_spike

    def _step(self, x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        h = (1.0 - 1.0 / self.tau) * v + x
        spike = round_count_fire(h / self.v_threshold, self.max_spike)
        s = spike.detach() if self.detach_reset else spike
        return spike, h - s * self.v_threshold

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, max_spike={self.max_spike}, step_mode={self.step_mode!r}"
        )
