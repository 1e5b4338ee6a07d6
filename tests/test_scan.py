"""Every scan backend against the naive reference: values, final state and all gradients."""

from __future__ import annotations

import pytest
import torch

from paraspike.ops import available_scan_backends, linear_scan

FAST_BACKENDS = [b for b in available_scan_backends("cpu") if b != "naive"]


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, with_h0: bool = True):
    u = torch.randn(shape, dtype=dtype, requires_grad=True)
    # log-decays spanning strong and weak decay, like a DSN's logsigmoid(a)/tau
    g = (torch.nn.functional.logsigmoid(torch.randn(shape, dtype=dtype) * 3) * 4).requires_grad_()
    h0 = torch.randn(shape[1:], dtype=dtype, requires_grad=True) if with_h0 else None
    return u, g, h0


def _run(backend: str, u, g, h0, weights, **kwargs):
    h, h_last = linear_scan(u, g, h0, backend=backend, **kwargs)
    loss = (h * weights[0]).sum() + (h_last * weights[1]).sum()
    leaves = [t for t in (u, g, h0) if t is not None]
    return (h, h_last, *torch.autograd.grad(loss, leaves))


def _assert_backend_matches_naive(backend, shape, dtype, with_h0=True, **kwargs):
    u, g, h0 = _inputs(shape, dtype, with_h0)
    weights = (torch.randn(shape, dtype=dtype), torch.randn(shape[1:], dtype=dtype))
    expected = _run("naive", u, g, h0, weights)
    got = _run(backend, u, g, h0, weights, **kwargs)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    names = ["h", "h_last", "grad_u", "grad_g", "grad_h0"]
    assert len(got) == len(expected)
    for name, e, o in zip(names[: len(expected)], expected, got, strict=True):
        assert o.shape == e.shape, name
        torch.testing.assert_close(o, e, **tol, msg=lambda m, name=name: f"{backend} {name}: {m}")


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("steps", [1, 2, 63, 64, 65, 100, 257, 1000, 1031])
def test_backend_matches_naive_over_lengths(backend, dtype, steps):
    _assert_backend_matches_naive(backend, (steps, 3, 5), dtype)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("trailing", [(), (7,), (2, 3, 4), (1, 1)])
def test_backend_matches_naive_over_trailing_shapes(backend, trailing):
    _assert_backend_matches_naive(backend, (300, *trailing), torch.float64)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("chunk_size", [1, 3, 16, 50, 512])
def test_explicit_chunk_sizes_match_naive(backend, chunk_size):
    _assert_backend_matches_naive(backend, (777, 4), torch.float64, chunk_size=chunk_size)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_without_initial_state(backend):
    _assert_backend_matches_naive(backend, (500, 6), torch.float64, with_h0=False)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_very_long_sequence_65536_steps(backend):
    _assert_backend_matches_naive(backend, (65536, 3), torch.float64)


@pytest.mark.parametrize("backend", ["naive", *FAST_BACKENDS])
@pytest.mark.parametrize("steps", [1, 5, 70, 200])
def test_gradcheck_float64(backend, steps):
    u, g, h0 = _inputs((steps, 2), torch.float64)
    assert torch.autograd.gradcheck(lambda a, b, c: linear_scan(a, b, c, backend=backend), (u, g, h0))


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_backward_with_only_final_state_used(backend):
    u, g, h0 = _inputs((130, 4), torch.float64)
    _, last = linear_scan(u, g, h0, backend=backend)
    grads = torch.autograd.grad(last.sum(), (u, g, h0))
    _, last_ref = linear_scan(u, g, h0, backend="naive")
    expected = torch.autograd.grad(last_ref.sum(), (u, g, h0))
    for got, exp in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, exp)


def test_matches_closed_form_sum():
    """h_t = sum_i exp(G_t - G_i) u_i + exp(G_t) h0 (spec section 3), in float64."""
    u, g, h0 = _inputs((40, 3), torch.float64)
    h, _ = linear_scan(u.detach(), g.detach(), h0.detach())
    cum = torch.cumsum(g.detach(), 0)
    t = torch.arange(40)
    weights = torch.exp(cum[:, None] - cum[None, :]) * (t[None, :] <= t[:, None])[..., None]
    expected = (weights * u.detach()[None]).sum(1) + torch.exp(cum) * h0.detach()
    torch.testing.assert_close(h, expected)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(backend, dtype):
    u, g, h0 = _inputs((3000, 8), torch.float32)
    h, last = linear_scan(u.to(dtype), g.to(dtype), h0.to(dtype), backend=backend)
    ref, _ = linear_scan(u.to(dtype).float(), g.to(dtype).float(), h0.to(dtype).float(), backend="naive")
    assert h.dtype == dtype and last.dtype == dtype
    # only the final rounding to the half type differs from a float32 run on the same inputs
    torch.testing.assert_close(h.float(), ref, rtol=1e-2, atol=1e-2)
    (gu,) = torch.autograd.grad(h.float().sum(), u)
    assert gu.dtype == torch.float32 and torch.isfinite(gu).all()


def test_strongly_decaying_gates_stay_finite():
    """Cumulative log-decays far below float32's exp range must not give NaN/inf (no division)."""
    u = torch.randn(4096, 16, requires_grad=True)
    g = torch.full((4096, 16), -30.0, requires_grad=True)
    h, _ = linear_scan(u, g)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, u.detach(), rtol=1e-5, atol=1e-6)
    h.sum().backward()
    assert torch.isfinite(u.grad).all() and torch.isfinite(g.grad).all()


def test_noncontiguous_inputs():
    base_u, base_g, _ = _inputs((200, 6, 2), torch.float64)
    u, g = base_u.transpose(1, 2), base_g.transpose(1, 2)
    torch.testing.assert_close(linear_scan(u, g, backend="chunked")[0], linear_scan(u, g, backend="naive")[0])


class TestErrors:
    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="log_decay must have the shape of u"):
            linear_scan(torch.randn(5, 3), torch.randn(5, 4))

    def test_integer_dtype(self):
        with pytest.raises(TypeError, match="u must be a floating-point tensor"):
            linear_scan(torch.ones(5, 3, dtype=torch.int64), torch.zeros(5, 3))

    def test_dtype_mismatch(self):
        with pytest.raises(ValueError, match="share dtype and device"):
            linear_scan(torch.randn(5, 3), torch.randn(5, 3, dtype=torch.float64))

    def test_scalar(self):
        with pytest.raises(ValueError, match="at least 1 dimension"):
            linear_scan(torch.tensor(1.0), torch.tensor(0.0))

    def test_empty_time(self):
        with pytest.raises(ValueError, match="no time steps"):
            linear_scan(torch.randn(0, 3), torch.randn(0, 3))

    def test_h0_shape(self):
        with pytest.raises(ValueError, match=r"h0 must have the trailing shape of u \(3,\)"):
            linear_scan(torch.randn(5, 3), torch.randn(5, 3), torch.zeros(4))

    def test_unknown_backend(self):
        with pytest.raises(ValueError, match="unknown scan backend 'fast'"):
            linear_scan(torch.randn(5, 3), torch.randn(5, 3), backend="fast")

    def test_bad_chunk_size(self):
        with pytest.raises(ValueError, match="chunk_size"):
            linear_scan(torch.randn(5, 3), torch.randn(5, 3), chunk_size=0)

    def test_not_a_tensor(self):
        with pytest.raises(TypeError, match="u must be a torch.Tensor"):
            linear_scan([1.0, 2.0], torch.randn(2))
