r"""The Dynamic Decay Spiking Neuron (DSN) of arXiv:2602.01133 (spec: shared/spec/dsn.md).

Per channel ``c`` (parameters shared over batch and spatial positions)::

    a'_t    = G(x)_t                              decay logit (default: causal depthwise conv, k=4)
    log a_t = logsigmoid(a'_t) / tau              alpha_t = sigmoid(a'_t) ** (1/tau) in (0, 1)
    H_t     = alpha_t * H_{t-1} + (1 - alpha_t) * x_t
    S_t     = clip(floor(H_t / V_th + 1/2), 0, N)  integer spike count (binary when N = 1)

Multi-step mode (``step_mode='m'``, input ``[T, B, C, *]``) computes all ``H_t`` with a parallel
linear scan; single-step mode (``'s'``, input ``[B, C, *]``) advances the same state by one step
with the serial update. The state (``H`` and the last ``k-1`` inputs of the conv) carries over
between calls in either mode, so a stream can be fed in chunks; ``reset()`` starts a new sequence.

Dtypes: float16/bfloat16 inputs are computed in float32. Spikes (and ``h_seq``) come out in the
input's dtype; the carried state ``H`` stays in the accumulation dtype (float32 for half inputs), so
feeding a stream in chunks gives what one call gives. Parameters are cast to the accumulation dtype.
The same holds on every backend and in both step modes.

Non-finite inputs (DECIDED): a NaN or +-inf input value makes that neuron's ``H`` NaN from that step
on (until ``reset()``), and its spikes NaN, on every backend and in both step modes, integer and
binary firing alike; ``+-inf`` is taken as NaN, since the recurrence of an infinite input is
undefined (``0 * inf`` once the decay saturates). This is PyTorch's convention for invalid values,
and a NaN in the output is what anomaly checks look for.

Tracing and export: ``torch.jit.trace`` records the fused kernel as one op (``paraspike::dsn_cpu``)
and runs every call of the traced graph from a zero state, so the module must be reset (state
``None``) when traced, in multi-step mode (:class:`~paraspike.neurons.MemoryModule` checks this).
``torch.onnx.export`` of a multi-step DSN exports the serial form unrolled over the traced ``T`` from a
zero state (:func:`paraspike.ops.dsn_step.dsn_unrolled`: a correct fixed-``T`` graph, any decay
generator); a graph that carries the state between calls needs the state as explicit inputs and
outputs: :func:`paraspike.export.to_onnx`. Anything else raises a clear error.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import Tensor

from paraspike.neurons.base import MemoryModule
from paraspike.neurons.decay import build_decay_generator
from paraspike.neurons.hardware import check_hardware_options, log_decay, quantize_weight, round_state
from paraspike.ops import linear_scan, resolve_scan_backend, spike_fire
from paraspike.ops._checks import check_positive_int, working_dtype
from paraspike.ops.dsn_fused import dsn_fused_cpu
from paraspike.ops.dsn_step import dsn_unrolled
from paraspike.ops.dsn_triton import dsn_fused_triton
from paraspike.ops.firing import check_surrogate_name, resolve_surrogate_alpha
from paraspike.ops.scan import check_scan_backend_name

__all__ = ["DSN", "DSNState"]


def _inf_to_nan(x: Tensor) -> Tensor:
    """``x`` with +-inf replaced by NaN (``x + 0 * x``, one fused op); finite values unchanged."""
    return torch.addcmul(x, x, x.new_zeros(()))


@torch.compiler.assume_constant_result
def _fused_kernel_name(backend: str, device_type: str) -> str:
    """``"cpu"``/``"triton"`` when a causal-conv DSN on ``backend`` runs as a fused kernel on
    ``device_type``, else ``""``. Resolving ``"auto"`` may build the CPU kernels; ``torch.compile``
    treats the answer as a constant of the graph."""
    resolved = resolve_scan_backend(backend, torch.device(device_type))
    return resolved if resolved in ("cpu", "triton") else ""


class DSNState(NamedTuple):
    """State of a DSN between calls.

    Attributes:
        h: membrane potential ``H_{t-1}`` ``[B, C, *]``.
        history: the last ``k-1`` inputs ``[k-1, B, C, *]`` (``None`` when the generator needs none).
    """

    h: Tensor
    history: Tensor | None


class DSN(MemoryModule):
    """Dynamic Decay Spiking Neuron.

    Args:
        channels: number of channels ``C`` (dimension 2 in ``[T, B, C, *]``, 1 in ``[B, C, *]``).
        kernel_size: ``k``, taps of the causal decay conv (paper: 4).
        tau: decay exponent ``alpha = sigmoid(a')**(1/tau)`` (paper: 0.25, i.e. power 4).
        max_spike: ``N``, the largest spike count (paper: 4); ``1`` gives binary spikes.
        v_threshold: ``V_th`` (paper: 1.0).
        surrogate: surrogate gradient for binary firing (``N = 1``): ``"atan"`` (default),
            ``"sigmoid"`` or ``"rect"``. Integer firing (``N >= 2``) always uses the straight-through
            gradient on ``0 <= H/V_th <= N`` (spec section 2), so a surrogate given with ``N >= 2`` is
            ignored, with a warning.
        surrogate_alpha: sharpness of the binary surrogate (``None``: its default); ignored, with a
            warning, when ``N >= 2``.
        decay: decay-logit generator: ``"causal_conv"`` (default), ``"static"``, ``"fc"``,
            ``"low_rank"`` or ``"channel_conv"``.
        rank: rank for ``"low_rank"`` decay or low-rank mixing (default ``C // 4``).
        enhanced: enhanced DSN: mix the causal-conv features across neurons.
        mixing: the enhanced DSN's mixing, ``"fc"`` or ``"low_rank"``.
        backend: scan backend (``"auto"``, ``"cpu"``, ``"triton"``, ``"chunked"``, ``"naive"``,
            ``"fla"``, ...). With the causal-conv decay (not enhanced), ``"cpu"`` (which ``"auto"``
            picks on CPU tensors when the kernel builds) and ``"triton"`` (picked on CUDA tensors
            when Triton is installed) run the whole neuron as one fused kernel each way.
        step_mode: ``"m"`` or ``"s"``.
        store_h_seq: keep the last multi-step membrane potentials in ``self.h_seq``.
        decay_fn: ``"sigmoid"`` (the paper's), ``"hard_sigmoid"`` or ``"pow2"``: hardware-friendly decays
            (:mod:`paraspike.neurons.hardware`; these run as separate ops, not the fused kernel).
        weight_bits: fake-quantise the causal decay conv weights to this many bits per channel (8: int8).
        state_frac_bits: in inference (``eval()``), round ``H`` to multiples of ``2^-state_frac_bits``
            after every update (a fixed-point register); multi-step calls then run serially.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 4,
        tau: float = 0.25,
        max_spike: int = 4,
        v_threshold: float = 1.0,
        surrogate: str | None = None,
        surrogate_alpha: float | None = None,
        decay: str = "causal_conv",
        rank: int | None = None,
        enhanced: bool = False,
        mixing: str = "fc",
        backend: str = "auto",
        step_mode: str = "m",
        store_h_seq: bool = False,
        decay_fn: str = "sigmoid",
        weight_bits: int | None = None,
        state_frac_bits: int | None = None,
    ) -> None:
        super().__init__(step_mode)
        check_hardware_options(decay_fn, weight_bits, state_frac_bits)
        if weight_bits is not None and decay != "causal_conv":
            raise ValueError(f"weight_bits applies to the causal-conv decay, not decay={decay!r}")
        check_positive_int("channels", channels)
        check_positive_int("kernel_size", kernel_size)
        check_positive_int("max_spike", max_spike)
        if not (isinstance(tau, (int, float)) and tau > 0):
            raise ValueError(f"tau must be > 0 (alpha = sigmoid(a')**(1/tau)), got {tau!r}")
        if not (isinstance(v_threshold, (int, float)) and v_threshold > 0):
            raise ValueError(f"v_threshold must be > 0, got {v_threshold!r}")
        if surrogate is not None:
            check_surrogate_name(surrogate)
        if max_spike >= 2:
            for name, value in (("surrogate", surrogate), ("surrogate_alpha", surrogate_alpha)):
                if value is not None:
                    warnings.warn(
                        f"DSN: {name}={value!r} is ignored: integer firing (max_spike={max_spike}) always uses the "
                        "straight-through gradient on 0 <= H/V_th <= N; surrogates apply to binary firing "
                        "(max_spike=1) only",
                        UserWarning,
                        stacklevel=2,
                    )
        surrogate = "atan" if surrogate is None else surrogate
        check_scan_backend_name(backend)
        self.channels = channels
        self.kernel_size = kernel_size
        self.tau = float(tau)
        self.max_spike = max_spike
        self.v_threshold = float(v_threshold)
        self.surrogate = surrogate
        self.surrogate_alpha = surrogate_alpha
        self.decay = decay
        self.enhanced = enhanced
        self.backend = backend
        self.store_h_seq = store_h_seq
        self.decay_fn = decay_fn
        self.weight_bits = weight_bits
        self.state_frac_bits = state_frac_bits
        self.decay_logit = build_decay_generator(
            decay, channels, kernel_size, rank=rank, enhanced=enhanced, mixing=mixing
        )
        if weight_bits is not None:
            self.decay_logit.weight_bits = weight_bits
        self.register_memory("h")
        self.register_memory("history")
        self.register_memory("h_seq")
        self._backward_checks_state = False

    # ----------------------------------------------------------------------------- state
    @property
    def history(self) -> Tensor | None:
        """The last ``k-1`` inputs ``[k-1, B, C, *]`` (``None`` after ``reset()``). A call shorter than
        ``k-1`` steps only notes its inputs; the window (zeros or the earlier history in front) is built
        when something reads it, so training calls with a few time steps, which never read it before the
        next ``reset()``, allocate nothing for it."""
        pending = self._history_pending
        if pending is not None:
            past, recent = pending
            rows, keep = recent.shape[0], self.decay_logit.history_length
            front = recent.new_zeros((keep - rows, *recent.shape[1:])) if past is None else past[rows:]
            self._set_history(torch.cat([front, recent], dim=0))
        return self._history_value

    @history.setter
    def history(self, value: Tensor | None) -> None:
        self._set_history(value)

    def _set_history(self, value: Tensor | None, pending: tuple[Tensor | None, Tensor] | None = None) -> None:
        """The window itself, or (``value=None``) the ``(past, recent)`` pair it is built from when read."""
        self._store("_history_value", value)
        self._store("_history_pending", pending)

    @property
    def state(self) -> DSNState | None:
        """The current state, or ``None`` before the first call / after ``reset()``."""
        if self.h is None:
            return None
        return DSNState(self.h, self.history)

    def set_state(self, state: DSNState | None) -> None:
        """Continue from ``state`` (e.g. one saved from another module or a previous run)."""
        if state is None:
            self.reset()
            return
        if not isinstance(state, DSNState):
            raise TypeError(f"state must be a DSNState or None, got {type(state).__name__}")
        needed = self.decay_logit.history_length
        if needed and (state.history is None or state.history.shape[0] != needed):
            got = None if state.history is None else tuple(state.history.shape)
            raise ValueError(f"state.history must hold the last {needed} inputs [{needed}, B, C, *], got {got}")
        self.h, self.history = state.h, state.history

    # ----------------------------------------------------------------------------- checks
    def _check_input(self, x: Tensor, mode: str) -> None:
        layout = "[T, B, C, *]" if mode == "m" else "[B, C, *]"
        min_dim = 3 if mode == "m" else 2
        if not isinstance(x, Tensor):
            raise TypeError(f"DSN input must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"DSN input must be floating point, got dtype {x.dtype}; convert it with .float()")
        if x.dim() < min_dim:
            hint = " (for one time step use step_mode='s')" if mode == "m" else ""
            raise ValueError(f"DSN in step_mode={mode!r} expects {layout}, got shape {tuple(x.shape)}{hint}")
        channel_dim = 2 if mode == "m" else 1
        if x.shape[channel_dim] != self.channels:
            raise ValueError(
                f"DSN was built for {self.channels} channels but input {layout} has "
                f"{x.shape[channel_dim]} at dimension {channel_dim} (shape {tuple(x.shape)})"
            )
        if mode == "m" and x.shape[0] == 0:
            raise ValueError("DSN input has no time steps (dimension 0 has size 0)")

    def _check_state(self, step_shape: torch.Size) -> None:
        if self.h is not None and self.h.shape != step_shape:
            raise ValueError(
                f"DSN state has shape {tuple(self.h.shape)} but the input step is {tuple(step_shape)} "
                "[B, C, *]; call reset() (or spikingjelly's functional.reset_net) between sequences "
                "of different shapes"
            )
        if self.history is not None and self.history.shape[1:] != step_shape:
            raise ValueError(
                f"DSN history has shape {tuple(self.history.shape)}, expected [k-1, *{tuple(step_shape)}]; "
                "call reset() between sequences of different shapes"
            )

    # ----------------------------------------------------------------------------- math
    def _log_decay_and_input(self, x_seq: Tensor) -> tuple[Tensor, Tensor]:
        """``(log alpha, (1 - alpha) * x)`` for ``x_seq`` ``[T, B, C, *]`` (in the accumulation dtype,
        non-finite values already NaN), using the history."""
        history = None if self.history is None else self.history.to(x_seq.dtype)
        logits = self.decay_logit(x_seq, history)
        log_alpha = log_decay(logits, self.tau, self.decay_fn)
        return log_alpha, -torch.expm1(log_alpha) * x_seq

    @property
    def _fixed_point_state(self) -> bool:
        """Whether ``H`` is rounded to fixed point after every update (inference with state_frac_bits)."""
        return self.state_frac_bits is not None and not self.training

    def _advance_history(self, x_seq: Tensor) -> None:
        keep = self.decay_logit.history_length
        if keep == 0:
            return
        if x_seq.shape[0] >= keep:  # the new inputs alone fill the window: no copy of the sequence
            self._set_history(x_seq[-keep:])
            return
        past = self.history  # built now if it was pending, so pending windows never nest
        self._set_history(None, (past, x_seq))

    def _watch_output(self, out: Tensor) -> None:
        """No hook after a call of the fused CPU kernel: its backward reports a carried state whose graph
        was freed, with the same advice (saves the hook's few microseconds per call)."""
        if self.__dict__.get("_backward_checks_state", False):  # absent in modules pickled by older versions
            self._store("_state_backward_ran", None)
            return
        super()._watch_output(out)

    def _fire(self, h: Tensor) -> Tensor:
        return spike_fire(h, self.v_threshold, self.max_spike, self.surrogate, self.surrogate_alpha)

    def fused_kernel(self, device: torch.device | str = "cpu") -> str | None:
        """The fused kernel (conv, decay, scan and firing in one pass each way) that multi-step calls
        on ``device`` run: ``"cpu"`` or ``"triton"``, or ``None`` (separate ops around a scan). Needs
        the causal-conv decay, not enhanced, and the backend (``"auto"`` resolved) ``"cpu"`` or
        ``"triton"``."""
        if self.decay != "causal_conv" or self.enhanced or self.decay_fn != "sigmoid" or self._fixed_point_state:
            return None
        if torch.compiler.is_compiling():
            return _fused_kernel_name(self.backend, torch.device(device).type) or None
        resolved = self.scan_backend(device)  # cached per module: resolving costs microseconds per call
        return resolved if resolved in ("cpu", "triton") else None

    def uses_fused_cpu_kernel(self, device: torch.device | str = "cpu") -> bool:
        """Whether multi-step calls on ``device`` run as the fused CPU kernel (see :meth:`fused_kernel`)."""
        return self.fused_kernel(device) == "cpu"

    def _fused_forward(self, x_seq: Tensor, kernel: str, keep_h_seq: bool = True) -> Tensor:
        fused = dsn_fused_cpu if kernel == "cpu" else dsn_fused_triton
        store_h = self.store_h_seq and keep_h_seq
        spikes, h_seq, h_last = fused(
            x_seq,
            self.history,
            self.h,
            quantize_weight(self.decay_logit.weight, self.weight_bits),
            self.decay_logit.bias,
            tau=self.tau,
            v_threshold=self.v_threshold,
            max_spike=self.max_spike,
            surrogate=self.surrogate,
            surrogate_alpha=resolve_surrogate_alpha(self.surrogate, self.surrogate_alpha),
            store_h=store_h,
        )
        self._store("h", h_last)
        self._advance_history(x_seq)
        if store_h:
            self.h_seq = h_seq.to(x_seq.dtype)
        return spikes

    def _export_forward(self, x_seq: Tensor) -> Tensor:
        """The serial form unrolled over ``T`` from a zero state, in ops every exporter knows."""
        if self.decay_fn != "sigmoid" or self._fixed_point_state:
            raise RuntimeError(
                f"torch.onnx.export of a multi-step DSN with decay_fn={self.decay_fn!r} / state_frac_bits="
                f"{self.state_frac_bits} is not supported; export one step with paraspike.export.to_onnx"
            )
        x = x_seq.to(working_dtype(x_seq.dtype))
        spikes, h_seq, self.h = dsn_unrolled(
            x, self.decay_logit(x, None), tau=self.tau, v_threshold=self.v_threshold, max_spike=self.max_spike
        )
        if self.store_h_seq:
            self.h_seq = h_seq.to(x_seq.dtype)
        return spikes.to(x_seq.dtype)

    def multi_step_forward(self, x_seq: Tensor) -> Tensor:
        """Spikes ``[T, B, C, *]`` for inputs ``[T, B, C, *]``: parallel scan over time (or the fused
        kernel, see :meth:`fused_kernel`)."""
        self._check_input(x_seq, "m")
        self._check_state(x_seq.shape[1:])
        if torch.onnx.is_in_onnx_export():
            return self._export_forward(x_seq)
        kernel = self.fused_kernel(x_seq.device)
        self._store("_backward_checks_state", kernel == "cpu")
        if kernel is not None:
            return self._fused_forward(x_seq, kernel)
        if self._fixed_point_state:
            return self._serial_forward(x_seq)
        x = _inf_to_nan(x_seq.to(working_dtype(x_seq.dtype)))
        log_alpha, u = self._log_decay_and_input(x)
        h_seq, self.h = linear_scan(u, log_alpha, self.h, backend=self.backend)
        self._advance_history(x_seq)
        if self.store_h_seq:
            self.h_seq = h_seq.to(x_seq.dtype)
        return self._fire(h_seq).to(x_seq.dtype)

    def single_step_forward(self, x: Tensor) -> Tensor:
        """Spikes ``[B, C, *]`` for one step ``[B, C, *]``: the serial update (on the CPU, the fused kernel
        for one step when the neuron uses it, see :meth:`fused_kernel`; separate ops otherwise)."""
        self._check_input(x, "s")
        self._check_state(x.shape)
        if (
            self.fused_kernel(x.device) == "cpu"
            and not torch.jit.is_tracing()  # an exported step is the serial update in plain ops
            and not torch.onnx.is_in_onnx_export()
        ):  # the fused kernel for one step: one op instead of a dozen (a step costs a third)
            self._store("_backward_checks_state", True)
            return self._fused_forward(x.unsqueeze(0), "cpu", keep_h_seq=False)[0]
        self._store("_backward_checks_state", False)
        compute = working_dtype(x.dtype)
        log_alpha, u = self._log_decay_and_input(_inf_to_nan(x.to(compute)).unsqueeze(0))
        alpha = torch.exp(log_alpha[0])
        self.h = u[0] if self.h is None else alpha * self.h.to(compute) + u[0]
        if self._fixed_point_state:
            self.h = round_state(self.h, self.state_frac_bits)
        self._advance_history(x.unsqueeze(0))
        return self._fire(self.h).to(x.dtype)

    def _serial_forward(self, x_seq: Tensor) -> Tensor:
        """A multi-step call as single steps (the fixed-point state's rounding is not a linear scan)."""
        spikes, potentials = [], []
        for x in x_seq.unbind(0):
            spikes.append(self.single_step_forward(x))
            potentials.append(self.h)
        if self.store_h_seq:
            self.h_seq = torch.stack(potentials).to(x_seq.dtype)
        return torch.stack(spikes)

    def scan_backend(self, device: torch.device | str = "cpu") -> str:
        """The scan backend this neuron uses on ``device`` (``"auto"`` resolved, cached per device type)."""
        device = torch.device(device)
        cache = self.__dict__.setdefault("_resolved_backends", {})
        key = (self.backend, device.type)
        if key not in cache:
            cache[key] = resolve_scan_backend(self.backend, device)
        return cache[key]

    def extra_repr(self) -> str:
        parts = [
            f"channels={self.channels}",
            f"kernel_size={self.kernel_size}",
            f"tau={self.tau}",
            f"max_spike={self.max_spike}",
            f"v_threshold={self.v_threshold}",
            f"decay={self.decay!r}",
        ]
        if self.enhanced:
            parts.append("enhanced=True")
        if self.decay_fn != "sigmoid":
            parts.append(f"decay_fn={self.decay_fn!r}")
        if self.weight_bits is not None:
            parts.append(f"weight_bits={self.weight_bits}")
        if self.state_frac_bits is not None:
            parts.append(f"state_frac_bits={self.state_frac_bits}")
        if self.max_spike == 1:
            parts.append(f"surrogate={self.surrogate!r}")
        parts.append(f"backend={self.backend!r}")
        return ", ".join(parts) + ", " + super().extra_repr()
