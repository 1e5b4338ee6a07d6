"""The Triton kernels (backend "triton") and the fla adapter against the naive reference.

Without a CUDA device the kernels run in Triton's interpreter (TRITON_INTERPRET=1, exact and slow),
so the shapes here are small; with one, the same tests run on the GPU.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types

import pytest
import torch

ON_GPU = torch.cuda.is_available()
DEVICE = torch.device("cuda" if ON_GPU else "cpu")
if not ON_GPU:
    # Triton decides at import and at @triton.jit time whether functions are interpreted: its own
    # standard library (tl.sum, ...) too. Import it under TRITON_INTERPRET=1, then restore the
    # variable so that the rest of the suite does not see the (slow) interpreted backend.
    if "triton" in sys.modules:  # conftest imports it under the interpreter; anything else cannot run here
        from triton.language import sum as _tl_sum
        from triton.runtime.interpreter import InterpretedFunction

        if not isinstance(_tl_sum, InterpretedFunction):
            pytest.skip("triton was imported without TRITON_INTERPRET=1 (see conftest.py)", allow_module_level=True)
    _saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        pytest.importorskip("triton", reason="Triton is not installed (pip install triton): kernels not tested")
        import paraspike.kernels.triton_dsn  # noqa: F401
    finally:
        if _saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = _saved
else:
    pytest.importorskip("triton", reason="Triton is not installed (pip install triton): kernels not tested")

from helpers import assert_spikes_equal_up_to_ties  # noqa: E402
from paraspike import DSN  # noqa: E402
from paraspike.neurons.dsn import DSNState  # noqa: E402
from paraspike.ops import linear_scan, resolve_scan_backend  # noqa: E402
from paraspike.ops.dsn_triton import dsn_fused_triton  # noqa: E402
from paraspike.ops.scan import available_scan_backends  # noqa: E402


@pytest.fixture(autouse=True)
def _interpret(monkeypatch):
    if not ON_GPU:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


def _reference_and_triton(channels: int, **options) -> tuple[DSN, DSN]:
    reference = DSN(channels, backend="naive", store_h_seq=True, **options).double()
    fused = DSN(channels, backend="triton", store_h_seq=True, **options).double().to(DEVICE)
    fused.load_state_dict(reference.state_dict())
    assert fused.fused_kernel(DEVICE) == "triton"
    return reference, fused


def _outputs_and_grads(spikes, h_seq, h_last, inputs, weights):
    loss = (spikes * weights[0]).sum() + (h_seq * weights[1]).sum() + (h_last * weights[2]).sum()
    return [spikes.detach(), h_seq.detach(), h_last.detach(), *torch.autograd.grad(loss, inputs)]


CONFIGS = [  # (DSN options, x shape, chunk_size): None = one chunk, else that many steps per program
    ({"max_spike": 4}, (37, 2, 5), None),
    ({"max_spike": 4}, (37, 2, 5), 8),  # 5 chunks, the last one short
    ({"max_spike": 4, "tau": 0.5}, (20, 2, 3, 2), 6),  # spatial dims
    ({"max_spike": 3, "tau": 0.3}, (25, 2, 4), 7),  # 1/tau not an integer: the exp/log path
    ({"max_spike": 1, "surrogate": "atan"}, (19, 3, 4), 5),
    ({"max_spike": 1, "surrogate": "sigmoid", "surrogate_alpha": 3.0}, (17, 2, 4), None),
    ({"max_spike": 1, "surrogate": "rect"}, (17, 2, 4), 4),
    ({"max_spike": 4, "kernel_size": 1}, (12, 2, 4), 5),
    ({"max_spike": 4, "kernel_size": 7}, (30, 2, 3), 6),  # 7 taps: a window of 8 columns
    ({"max_spike": 4}, (1, 2, 3), None),  # one step
    ({"max_spike": 4}, (2, 2, 3), None),  # fewer steps than the conv history
    ({"max_spike": 4}, (11, 3, 70), 4),  # 210 neurons: more than one program wide
]


@pytest.mark.parametrize("options, shape, chunk", CONFIGS)
@pytest.mark.parametrize("with_state", [False, True])
def test_triton_dsn_equals_naive_values_and_all_gradients(options, shape, chunk, with_state):
    torch.manual_seed(hash((str(options), shape, chunk, with_state)) % 2**31)
    reference, _ = _reference_and_triton(shape[2], **options)
    conv = reference.decay_logit
    k = reference.kernel_size
    x = (torch.randn(*shape, dtype=torch.float64) * 1.5).requires_grad_()
    h0 = torch.randn(*shape[1:], dtype=torch.float64, requires_grad=True) if with_state else None
    hist = torch.randn(k - 1, *shape[1:], dtype=torch.float64, requires_grad=True) if with_state and k > 1 else None
    weights = (torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64))
    weights += (torch.randn(shape[1:], dtype=torch.float64),)
    inputs = [x, conv.weight, conv.bias] + [t for t in (h0, hist) if t is not None]

    reference.reset()
    if with_state:
        reference.set_state(DSNState(h0, hist))
    spikes = reference(x)
    want = _outputs_and_grads(spikes, reference.h_seq, reference.h, inputs, weights)

    firing = {key: getattr(reference, key) for key in ("tau", "v_threshold", "max_spike", "surrogate")}
    from paraspike.ops.firing import resolve_surrogate_alpha

    spikes, h_seq, h_last = dsn_fused_triton(
        x.to(DEVICE), None if hist is None else hist.to(DEVICE), None if h0 is None else h0.to(DEVICE),
        conv.weight.to(DEVICE), conv.bias.to(DEVICE), chunk_size=chunk,
        surrogate_alpha=resolve_surrogate_alpha(reference.surrogate, reference.surrogate_alpha), **firing,
    )  # fmt: skip
    got = _outputs_and_grads(spikes.cpu(), h_seq.cpu(), h_last.cpu(), inputs, weights)
    assert torch.equal(got[0], want[0])
    for value, expected in zip(got[1:], want[1:], strict=True):
        torch.testing.assert_close(value, expected, rtol=1e-9, atol=1e-11)


def test_triton_dsn_module_streaming_equals_one_call_and_naive():
    torch.manual_seed(5)
    reference, fused = _reference_and_triton(4, max_spike=4)
    x = torch.randn(24, 2, 4, dtype=torch.float64)
    whole = fused(x.to(DEVICE)).cpu()
    assert torch.equal(whole, reference(x))
    fused.reset()
    parts = [fused(part.to(DEVICE)).cpu() for part in torch.split(x, [1, 2, 9, 12])]
    assert torch.equal(torch.cat(parts), whole)


def test_triton_dsn_float32_and_bfloat16():
    torch.manual_seed(6)
    reference = DSN(6, backend="naive", store_h_seq=True)
    fused = DSN(6, backend="triton").to(DEVICE)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(40, 3, 6, requires_grad=True)
    s_ref = reference(x)
    g_ref = torch.autograd.grad((s_ref * torch.linspace(-1, 1, 6)).sum(), x)[0]
    x_dev = x.detach().to(DEVICE).requires_grad_()
    s_fused = fused(x_dev)
    g_fused = torch.autograd.grad((s_fused * torch.linspace(-1, 1, 6, device=DEVICE)).sum(), x_dev)[0]
    assert_spikes_equal_up_to_ties(reference, s_fused.cpu(), s_ref, reference.h_seq.detach())
    torch.testing.assert_close(g_fused.cpu(), g_ref, rtol=1e-4, atol=1e-5)

    fused.reset()
    x_half = x.detach().to(DEVICE, torch.bfloat16).requires_grad_()
    s_half = fused(x_half)
    assert s_half.dtype == torch.bfloat16
    s_half.float().sum().backward()
    assert x_half.grad.dtype == torch.bfloat16 and torch.isfinite(x_half.grad.float()).all()
    reference.reset()
    s_rounded = reference(x.detach().to(torch.bfloat16).float())  # float32 math on the rounded inputs
    assert (s_half.float().cpu() != s_rounded).float().mean() < 0.02


@pytest.mark.parametrize("steps, chunk", [(1, None), (13, None), (13, 4), (40, 7)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_triton_scan_backend_equals_naive_with_gradients(steps, chunk, dtype):
    torch.manual_seed(steps)
    u = torch.randn(steps, 3, 5, dtype=dtype, requires_grad=True)
    g = (-torch.rand(steps, 3, 5, dtype=dtype) * 2).requires_grad_()
    h0 = torch.randn(3, 5, dtype=dtype, requires_grad=True)
    results = {}
    for backend, device in (("naive", torch.device("cpu")), ("triton", DEVICE)):
        args = [t.to(device) for t in (u, g, h0)]
        h, last = linear_scan(*args, backend=backend, chunk_size=chunk)
        loss = (h * torch.cos(h)).sum() + 3 * last.sum()
        results[backend] = [t.cpu() for t in (h, *torch.autograd.grad(loss, (u, g, h0)))]
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for got, want in zip(results["triton"], results["naive"], strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)


def test_custom_ops_pass_opcheck():
    from paraspike.ops.dsn_triton import _dsn_forward
    from paraspike.ops.scan_triton import _scan_forward

    torch.manual_seed(7)
    steps, neurons, taps = 9, 6, 4
    x = torch.randn(steps, neurons, dtype=torch.float64, device=DEVICE, requires_grad=True)
    hist = torch.randn(taps - 1, neurons, dtype=torch.float64, device=DEVICE, requires_grad=True)
    h0 = torch.randn(neurons, dtype=torch.float64, device=DEVICE, requires_grad=True)
    w = torch.randn(taps, 3, dtype=torch.float64, device=DEVICE, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, device=DEVICE, requires_grad=True)
    torch.library.opcheck(_dsn_forward, (x, hist, h0, w, b, 0.25, 1.0, 4, 1, 2.0, 4))
    u = torch.randn(steps, neurons, dtype=torch.float64, device=DEVICE, requires_grad=True)
    g = (-torch.rand(steps, neurons, dtype=torch.float64, device=DEVICE)).requires_grad_()
    torch.library.opcheck(_scan_forward, (u, g, h0, 4))


def test_torch_compile_traces_a_model_with_triton_dsns_without_graph_breaks():
    torch.manual_seed(8)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 6), DSN(6, backend="triton", kernel_size=3), torch.nn.Linear(6, 6), DSN(6, backend="triton")
    ).to(DEVICE)

    def run(fn, x):
        for module in model:
            if isinstance(module, DSN):
                module.reset()
        out = fn(x)
        grads = torch.autograd.grad((out * torch.arange(6.0, device=DEVICE)).sum(), list(model.parameters()))
        return out, grads

    x = torch.randn(11, 2, 5, device=DEVICE)
    eager_out, eager_grads = run(model, x)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    out, grads = run(compiled, x)
    torch.testing.assert_close(out, eager_out)
    for got, want in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_auto_picks_triton_only_on_cuda():
    assert resolve_scan_backend("auto", "cpu") in ("cpu", "chunked")  # even with TRITON_INTERPRET=1
    assert "triton" in available_scan_backends("cpu") or ON_GPU
    if ON_GPU:
        assert resolve_scan_backend("auto", "cuda") == "triton"


def test_triton_backend_where_it_cannot_run_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        resolve_scan_backend("triton", "cpu")
    with pytest.raises(RuntimeError, match="Triton kernels run on CUDA devices"):
        DSN(4, backend="triton")(torch.randn(3, 1, 4))


def _fake_fla(monkeypatch) -> None:
    """A stand-in ``fla`` package whose ``fused_recurrent_hgrn`` is the naive scan over ``[B, T, D]``."""

    def fused_recurrent_hgrn(x, g, initial_state=None, output_final_state=False):
        assert x.dim() == 3 and x.shape[0] == 1 and x.is_contiguous()
        h, last = linear_scan(x.transpose(0, 1), g.transpose(0, 1), backend="naive")
        return h.transpose(0, 1), (last if output_final_state else None)

    modules = {name: types.ModuleType(name) for name in ("fla", "fla.ops", "fla.ops.hgrn")}
    for name, module in modules.items():
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        monkeypatch.setitem(sys.modules, name, module)
    modules["fla.ops.hgrn"].fused_recurrent_hgrn = fused_recurrent_hgrn


def test_fla_backend_adapter_layout_and_initial_state(monkeypatch):
    from paraspike.ops.scan_fla import fla_unavailable_reason

    assert "not installed" in (fla_unavailable_reason("cpu") or "not installed") or "fla" in sys.modules
    _fake_fla(monkeypatch)
    assert fla_unavailable_reason("cpu") is None  # interpreter on
    assert resolve_scan_backend("auto", "cpu") != "fla"  # a peer, never chosen automatically
    torch.manual_seed(9)
    u = torch.randn(10, 2, 3, dtype=torch.float64, requires_grad=True)
    g = (-torch.rand(10, 2, 3, dtype=torch.float64)).requires_grad_()
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    results = {}
    for backend in ("naive", "fla"):
        h, last = linear_scan(u, g, h0, backend=backend)
        results[backend] = (h, *torch.autograd.grad((h.sin()).sum() + last.sum(), (u, g, h0)))
    for got, want in zip(results["fla"], results["naive"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    monkeypatch.delenv("TRITON_INTERPRET")
    assert "CUDA" in fla_unavailable_reason("cpu")
