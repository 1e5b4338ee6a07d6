r"""S4D: a diagonal state-space layer per channel (Gu et al., 2022, "On the parameterization and
initialization of diagonal state space models"), in the convolution form for training and the
recurrent form for streaming, which give the same outputs.

For each channel ``h`` and complex mode ``n`` (``d_state / 2`` modes, the conjugate pairs implicit):

.. math::
    A_{hn} = -e^{a_{hn}} + i\,\pi n, \quad \Delta_h = e^{\log\Delta_h}, \quad
    \bar A = e^{\Delta A}, \quad \bar B = (e^{\Delta A} - 1) / A \quad \text{(zero-order hold, } B = 1)

    s_t = \bar A\, s_{t-1} + \bar B\, u_t, \qquad y_t = 2\,\mathrm{Re}\Big(\sum_n C_n s_{t,n}\Big) + D\,u_t

which unrolls to the causal convolution ``y = K * u + D u`` with the kernel
:math:`K_l = 2\,\mathrm{Re}\sum_n C_n \bar B_n \bar A_n^{\,l}`, built for the length at hand and applied
by FFT (length ``2L``, no wrap-around). Initialisation (S4D-Lin): ``a = log 0.5``, ``Im A = pi n``,
``log Delta`` uniform in ``[log dt_min, log dt_max]``, ``C`` complex normal, ``D`` normal.

Layout: multi-step input ``[L, B, H]`` (time first, as the neurons), single-step ``[B, H]``. The state
``s`` ``[B, H, N/2]`` (complex) is carried between calls, so a sequence may arrive in chunks: a chunk of
``M`` steps adds the carried state's response :math:`2\,\mathrm{Re}\sum_n C_n \bar A_n^{t+1} s_{-1,n}`
to its convolution and leaves :math:`s_{M-1} = \bar A^M s_{-1} + \sum_j \bar A^{M-1-j} \bar B u_j`
(computed when the next call needs it, so training on whole sequences never pays for it). Complex
products are written in real arithmetic (complex matrix products are slow on CPUs).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from paraspike.neurons.base import MemoryModule

__all__ = ["S4D"]


class S4D(MemoryModule):
    """Diagonal state-space layer over the time axis (see the module doc).

    Args:
        channels: ``H``.
        d_state: state size ``N`` (``N / 2`` complex modes); SpikingSSM uses 64.
        dt_min: the lower end of the initial step sizes (drawn log-uniform).
        dt_max: the upper end of that range.
        step_mode: ``"m"`` (``[L, B, H]``) or ``"s"`` (``[B, H]``).
    """

    def __init__(
        self, channels: int, d_state: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1, step_mode: str = "m"
    ) -> None:
        super().__init__(step_mode)
        if d_state < 2 or d_state % 2:
            raise ValueError(f"S4D d_state must be an even number >= 2 (N/2 complex modes), got {d_state}")
        modes = d_state // 2
        self.channels, self.modes = channels, modes
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.log_a_real = nn.Parameter(torch.full((channels, modes), math.log(0.5)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(modes, dtype=torch.float32).expand(channels, modes).clone())
        self.c = nn.Parameter(torch.view_as_real(torch.randn(channels, modes, dtype=torch.complex64)))
        self.d = nn.Parameter(torch.randn(channels))
        for parameter in (self.log_dt, self.log_a_real, self.a_imag, self.c):
            parameter._optim = {"weight_decay": 0.0, "lr_cap": 1e-3}  # type: ignore[attr-defined]
        self.register_memory("state")  # [B, H, N/2] complex
        self._inference_cache: dict[Any, Any] = {}
        self.register_memory("pending")  # the last chunk's input [B, H, M], folded into the state when needed

    def _discrete(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``Delta A``, ``B_bar``, ``A_bar`` and ``C``, each ``[H, N/2]`` complex."""
        a = torch.complex(-torch.exp(self.log_a_real), self.a_imag)
        dt_a = a * torch.exp(self.log_dt).unsqueeze(-1)
        a_bar = torch.exp(dt_a)
        return dt_a, (a_bar - 1.0) / a, a_bar, torch.view_as_complex(self.c)

    def _vandermonde(self, dt_a: Tensor, length: int) -> tuple[Tensor, Tensor]:
        """Real and imaginary parts of ``V[h, n, t] = exp(dt_a[h, n] t)``, ``t < length``, ``[H, N/2, length]``
        (real arithmetic: complex matrix products are slow on CPUs). Without gradient recording (inference)
        the longest one built is kept while the parameters are unchanged (their in-place version counters)
        and sliced: streaming builds the same powers chunk after chunk."""
        if torch.is_grad_enabled():
            return self._powers(dt_a, length)
        stamp = tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in self.parameters())
        cached = self._inference_cache
        if cached.get("stamp") != stamp or cached["powers"][0].shape[-1] < length:
            self._inference_cache = cached = {"stamp": stamp, "powers": self._powers(dt_a, length)}
        real, imag = cached["powers"]
        return real[..., :length], imag[..., :length]

    @staticmethod
    def _powers(dt_a: Tensor, length: int) -> tuple[Tensor, Tensor]:
        steps = torch.arange(length, device=dt_a.device, dtype=dt_a.real.dtype)
        phase = dt_a.imag.unsqueeze(-1) * steps
        magnitude = torch.exp(dt_a.real.unsqueeze(-1) * steps)
        return magnitude * torch.cos(phase), magnitude * torch.sin(phase)

    def kernel(self, length: int) -> Tensor:
        """``K`` ``[H, length]`` (real): the response to a unit impulse, without the ``D`` term."""
        dt_a, b_bar, _, c = self._discrete()
        real, imag = self._vandermonde(dt_a, length)
        cb = c * b_bar
        return 2.0 * (torch.einsum("hn,hnl->hl", cb.real, real) - torch.einsum("hn,hnl->hl", cb.imag, imag))

    def _fold(self) -> None:
        """Fold the previous chunk's input (kept as ``pending``) into the state:
        ``s <- A_bar^M s + sum_j A_bar^(M-1-j) B_bar u_j``. Deferred to the next call, so a call that no
        other call follows (training on whole sequences) never pays for it."""
        if self.pending is None:
            return
        signal, self.pending = self.pending, None  # [B, H, M]
        length = signal.shape[-1]
        dt_a, b_bar, _, _ = self._discrete()
        real, imag = self._vandermonde(dt_a, length)  # A_bar^(M-1-j): the powers reversed in time
        u = signal.flip(-1).to(real.dtype)
        summed = torch.complex(torch.einsum("bhl,hnl->bhn", u, real), torch.einsum("bhl,hnl->bhn", u, imag))
        state = summed * b_bar
        if self.state is not None:
            state = state + self.state * torch.exp(dt_a * length)
        self.state = state

    def multi_step_forward(self, u: Tensor) -> Tensor:
        self._check(u, 3)
        self._fold()
        length = u.shape[0]
        signal = u.permute(1, 2, 0)  # [B, H, L]
        n = 2 * length
        spectrum = torch.fft.rfft(signal, n) * torch.fft.rfft(self.kernel(length).to(u.dtype), n)
        y = torch.fft.irfft(spectrum, n)[..., :length] + signal * self.d.unsqueeze(-1).to(u.dtype)
        if self.state is not None:  # the carried state's response: 2 Re sum_n C_n A_bar^(t+1) s_n
            dt_a, _, a_bar, c = self._discrete()
            real, imag = self._vandermonde(dt_a, length)
            weighted = self.state * c * a_bar
            response = torch.einsum("bhn,hnl->bhl", weighted.real, real) - torch.einsum(
                "bhn,hnl->bhl", weighted.imag, imag
            )
            y = y + 2.0 * response.to(u.dtype)
        self.pending = signal
        return y.permute(2, 0, 1)

    def single_step_forward(self, u: Tensor) -> Tensor:
        self._check(u, 2)
        self._fold()
        _, b_bar, a_bar, c = self._discrete()
        drive = b_bar * u.unsqueeze(-1).to(b_bar.dtype)
        self.state = drive if self.state is None else a_bar * self.state + drive
        return (2.0 * (self.state * c).sum(-1).real).to(u.dtype) + self.d.to(u.dtype) * u

    def _check(self, u: Tensor, dims: int) -> None:
        if u.dim() != dims or u.shape[-1] != self.channels:
            shape = "[L, B, H]" if dims == 3 else "[B, H]"
            raise ValueError(
                f"S4D in step_mode={self.step_mode!r} expects {shape} with H={self.channels}, got {tuple(u.shape)}"
            )
        carried = self.state if self.state is not None else self.pending
        if carried is not None and carried.shape[0] != u.shape[-2]:
            raise ValueError("S4D state does not match the batch size; call paraspike.reset_net(model) first")

    def extra_repr(self) -> str:
        return f"channels={self.channels}, d_state={2 * self.modes}, step_mode={self.step_mode!r}"
