"""The fused CPU kernel (backend "cpu"): the whole DSN and the plain scan against the naive reference."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from helpers import assert_spikes_equal_up_to_ties
from paraspike import DSN
from paraspike.kernels.cpu import cpu_kernel_unavailable_reason
from paraspike.neurons.dsn import DSNState
from paraspike.ops import linear_scan, resolve_scan_backend

REASON = cpu_kernel_unavailable_reason(torch.device("cpu"))
needs_kernel = pytest.mark.skipif(REASON is not None, reason=f"CPU kernel unavailable: {REASON}")


def test_kernel_builds_where_a_compiler_and_ninja_exist():
    from torch.utils.cpp_extension import is_ninja_available

    if shutil.which(os.environ.get("CXX", "c++")) is None or not is_ninja_available():
        pytest.skip("no C++ compiler or ninja on this machine")
    if os.environ.get("PARASPIKE_CPU_KERNEL", "1") == "0":
        pytest.skip("disabled by PARASPIKE_CPU_KERNEL=0")
    assert REASON is None
    assert resolve_scan_backend("auto", "cpu") == "cpu"


def _pair(channels: int, **options) -> tuple[DSN, DSN]:
    """A naive-backend DSN and a fused-kernel DSN with the same parameters, float64."""
    reference = DSN(channels, backend="naive", store_h_seq=True, **options).double()
    fused = DSN(channels, backend="cpu", store_h_seq=True, **options).double()
    fused.load_state_dict(reference.state_dict())
    assert fused.uses_fused_cpu_kernel("cpu") and not reference.uses_fused_cpu_kernel("cpu")
    return reference, fused


def _run(neuron: DSN, x: torch.Tensor, state: DSNState | None, weights: tuple[torch.Tensor, ...]):
    """Spikes, H sequence, final H and the gradients of a loss using all three, w.r.t. every input."""
    neuron.reset()
    if state is not None:
        neuron.set_state(state)
    spikes = neuron(x)
    h_seq, h_last = neuron.h_seq, neuron.h
    loss = (spikes * weights[0]).sum() + (h_seq * weights[1]).sum() + (h_last * weights[2]).sum()
    inputs = [x, neuron.decay_logit.weight, neuron.decay_logit.bias]
    if state is not None:
        inputs += [t for t in state if t is not None]
    grads = torch.autograd.grad(loss, inputs)
    return spikes.detach(), h_seq.detach(), h_last.detach(), grads


CONFIGS = [
    ({"max_spike": 4}, (37, 3, 5)),
    ({"max_spike": 4, "tau": 0.5}, (20, 2, 4, 3)),
    ({"max_spike": 2, "tau": 1.0, "v_threshold": 0.5}, (16, 2, 6)),
    ({"max_spike": 3, "tau": 0.3}, (25, 2, 4)),  # 1/tau not an integer: the exp/log path
    # V_th not a power of two: H / V_th is a division, not a product with 1 / V_th (the forward's other branch)
    ({"max_spike": 4, "v_threshold": 0.7}, (9, 2, 3, 4, 4)),
    ({"max_spike": 1, "v_threshold": 1.3, "surrogate": "atan"}, (6, 2, 40)),
    ({"max_spike": 1, "surrogate": "atan"}, (33, 2, 5)),
    ({"max_spike": 1, "surrogate": "sigmoid", "surrogate_alpha": 3.0}, (19, 3, 4)),
    ({"max_spike": 1, "surrogate": "rect"}, (19, 3, 4)),
    # fewer than 4 taps: the 4-tap strip kernels with zero taps in front (history rows shifted)
    ({"max_spike": 4, "kernel_size": 1}, (12, 2, 4)),
    ({"max_spike": 4, "kernel_size": 2}, (7, 2, 3, 4, 4)),  # taps broadcast per channel
    ({"max_spike": 1, "surrogate": "atan", "kernel_size": 3}, (2, 5, 40)),  # T <= 2: strip by strip over rows
    ({"max_spike": 4, "kernel_size": 3, "tau": 0.5}, (40, 2, 3)),  # two tiles of steps
    ({"max_spike": 4, "kernel_size": 3}, (1, 2, 3)),  # one step: the history's two rows
    ({"max_spike": 4, "kernel_size": 7}, (30, 2, 4)),  # more than 4 taps: the block kernels
    ({"max_spike": 4}, (1, 2, 3)),  # one step
    ({"max_spike": 4}, (2, 2, 3)),  # fewer steps than the conv history
    ({"max_spike": 4}, (9, 64, 3)),  # narrow layer, many batch rows: parameters tiled over rows
    ({"max_spike": 4}, (5, 2, 300)),  # wider than one kernel task
    ({"max_spike": 4}, (6, 3, 3, 10, 10)),  # 100 positions per channel: two whole channels per block
    ({"max_spike": 1}, (4, 2, 2, 20, 15)),  # 300 positions: a channel spans two blocks
    ({"max_spike": 4, "tau": 0.3}, (3, 2, 2, 17, 17)),  # 1/tau not 1, 2, 4 (vector log1p/expm1), split channels
    ({"max_spike": 4, "tau": 0.3, "kernel_size": 5}, (5, 2, 2, 9, 9)),  # the block kernels, libm's log1p/expm1
    ({"max_spike": 4}, (3, 3, 4, 4, 4)),  # 16 positions per channel: whole strips, taps broadcast per channel
    # T <= 2: the backward runs strip by strip over batch rows (prefetching across rows and strips)
    ({"max_spike": 4}, (2, 20, 2, 9, 9)),  # partial last strip, more rows than the prefetch distance
    ({"max_spike": 1, "surrogate": "sigmoid"}, (2, 40, 300)),  # two blocks per row, many rows
]


@needs_kernel
@pytest.mark.parametrize("options, shape", CONFIGS)
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_dsn_equals_naive_values_and_all_gradients(options, shape, with_state):
    torch.manual_seed(hash((str(options), shape, with_state)) % 2**31)
    reference, fused = _pair(shape[2], **options)
    x = (torch.randn(*shape, dtype=torch.float64) * 1.5).requires_grad_()
    state = None
    if with_state:
        k = reference.kernel_size
        state = DSNState(
            torch.randn(*shape[1:], dtype=torch.float64, requires_grad=True),
            torch.randn(k - 1, *shape[1:], dtype=torch.float64, requires_grad=True) if k > 1 else None,
        )
    weights = (torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64))
    weights += (torch.randn(shape[1:], dtype=torch.float64),)
    s_ref, h_ref, last_ref, g_ref = _run(reference, x, state, weights)
    s_fused, h_fused, last_fused, g_fused = _run(fused, x, state, weights)
    torch.testing.assert_close(h_fused, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(last_fused, last_ref, rtol=1e-12, atol=1e-12)
    _assert_same_spikes_and_gradients(s_fused, s_ref, g_fused, g_ref)


def _assert_same_spikes_and_gradients(s_fused, s_ref, g_fused, g_ref) -> None:
    """Float64 runs: the same spikes, and every gradient within 1e-9 of the naive reference's."""
    assert torch.equal(s_fused, s_ref)
    for got, want in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)


STEP_BY_STEP_CONFIGS = [(o, s) for o, s in CONFIGS if s[0] > 2 and o.get("kernel_size", 4) <= 4]


@needs_kernel
@pytest.mark.parametrize("options, shape", STEP_BY_STEP_CONFIGS)
def test_fused_dsn_backward_step_by_step_over_strips_equals_naive(options, shape, monkeypatch):
    # Layers with rows of 256 KiB or more run the backward step by step over each block's strips
    # (backward_rows); force that path on these small shapes.
    monkeypatch.setenv("PARASPIKE_ROW_MAJOR_BYTES", "0")
    test_fused_dsn_equals_naive_values_and_all_gradients(options, shape, with_state=True)


@needs_kernel
@pytest.mark.parametrize("row_major_bytes", ["0", str(1 << 62)])
@pytest.mark.parametrize(
    "options, shape",
    [
        ({"max_spike": 4}, (37, 3, 5)),  # a checkpoint, a 5-step last tile
        ({"max_spike": 1, "surrogate": "atan"}, (65, 2, 40)),  # two checkpoints, a 1-step last tile
        ({"max_spike": 4, "tau": 0.3, "kernel_size": 3}, (70, 2, 3, 6, 6)),
        ({"max_spike": 4}, (9, 2, 3, 4, 4)),
    ],
)
def test_fused_dsn_without_returned_potentials_equals_naive(options, shape, row_major_bytes, monkeypatch):
    # Without store_h_seq the forward writes only H's checkpoints (its H is not returned), and the
    # backward recomputes H from them; both traversals of the backward.
    monkeypatch.setenv("PARASPIKE_ROW_MAJOR_BYTES", row_major_bytes)
    torch.manual_seed(17)
    reference = DSN(shape[2], backend="naive", **options).double()
    fused = DSN(shape[2], backend="cpu", **options).double()
    fused.load_state_dict(reference.state_dict())
    x = (torch.randn(*shape, dtype=torch.float64) * 1.5).requires_grad_()
    h0 = torch.randn(*shape[1:], dtype=torch.float64, requires_grad=True)
    history = torch.randn(reference.kernel_size - 1, *shape[1:], dtype=torch.float64, requires_grad=True)
    weights = torch.randn(shape, dtype=torch.float64)
    results = []
    for neuron in (reference, fused):
        neuron.reset()
        neuron.set_state(DSNState(h0, history))
        spikes = neuron(x)
        loss = (spikes * weights).sum() + neuron.h.square().sum()
        inputs = [x, h0, history, neuron.decay_logit.weight, neuron.decay_logit.bias]
        results.append((spikes.detach(), torch.autograd.grad(loss, inputs)))
    (s_ref, g_ref), (s_fused, g_fused) = results
    _assert_same_spikes_and_gradients(s_fused, s_ref, g_fused, g_ref)


RECOMPUTED_CONFIGS = [(o, s) for o, s in CONFIGS if o.get("kernel_size", 4) <= 4]


@needs_kernel
@pytest.mark.parametrize("options, shape", RECOMPUTED_CONFIGS)
def test_fused_dsn_backward_from_saved_potentials_equals_naive(options, shape, monkeypatch):
    # The backward recomputes H from x by default (the tests above); with PARASPIKE_RECOMPUTE_H=0 the
    # forward saves H and the backward reads it.
    monkeypatch.setenv("PARASPIKE_RECOMPUTE_H", "0")
    test_fused_dsn_equals_naive_values_and_all_gradients(options, shape, with_state=True)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("row_major_bytes", ["0", str(1 << 62)])
@pytest.mark.parametrize(
    "options, shape",
    [
        ({"max_spike": 4}, (1, 3, 5)),
        ({"max_spike": 4}, (2, 20, 2, 9, 9)),  # strip by strip over batch rows
        ({"max_spike": 1, "surrogate": "atan"}, (2, 5, 40)),
        ({"max_spike": 4, "tau": 0.3}, (3, 2, 2, 17, 17)),  # vector log1p / expm1
        ({"max_spike": 4, "kernel_size": 2}, (7, 2, 3, 4, 4)),
        ({"max_spike": 1, "surrogate": "sigmoid"}, (8, 2, 40)),
        ({"max_spike": 4, "v_threshold": 0.7}, (32, 2, 3, 6, 6)),  # one tile
        ({"max_spike": 4}, (70, 2, 3, 6, 6)),  # three tiles, two checkpoints
        ({"max_spike": 1, "surrogate": "atan", "tau": 0.3}, (33, 3, 40)),  # a checkpoint and a one-step tile
    ],
)
def test_recomputed_potentials_give_the_saved_potentials_gradients_to_rounding(
    options, shape, row_major_bytes, dtype, monkeypatch
):
    # The forward and the recomputing reverse pass call the same step functions, so H and the gradients
    # agree to rounding (mostly bit for bit; where the compiler fuses a product and a sum in one context
    # and not the other, in the last bits), on both traversals of the backward.
    torch.manual_seed(11)
    neuron = DSN(shape[2], backend="cpu", **options).to(dtype)
    with torch.no_grad():
        neuron.decay_logit.weight.mul_(3.0)
    x = torch.randn(*shape, dtype=dtype).requires_grad_()
    h0 = torch.randn(*shape[1:], dtype=dtype).requires_grad_()
    history = torch.randn(neuron.kernel_size - 1, *shape[1:], dtype=dtype).requires_grad_()
    weights = torch.randn(shape, dtype=dtype)
    monkeypatch.setenv("PARASPIKE_ROW_MAJOR_BYTES", row_major_bytes)

    def gradients(recompute_steps: str) -> list[torch.Tensor]:
        monkeypatch.setenv("PARASPIKE_RECOMPUTE_H", recompute_steps)
        neuron.reset()
        neuron.set_state(DSNState(h0, history))
        loss = (neuron(x) * weights).sum() + neuron.h.square().sum()
        inputs = [x, h0, history, neuron.decay_logit.weight, neuron.decay_logit.bias]
        return list(torch.autograd.grad(loss, inputs))

    recomputed, saved = gradients("1"), gradients("0")
    tolerance = 1e-6 if dtype == torch.float32 else 1e-14
    for a, b in zip(recomputed, saved, strict=True):
        torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance * b.abs().max().item())


def _saved_tensors_of_a_training_call(neuron: DSN, x: torch.Tensor) -> list[torch.Tensor]:
    saved: list[torch.Tensor] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        neuron.reset()
        neuron(x).sum().backward()
    return saved


@needs_kernel
@pytest.mark.parametrize("steps", [1, 2, 32, 33, 70])
def test_training_saves_the_input_and_one_potential_per_32_steps(steps, monkeypatch):
    # The backward recomputes H from x, a 32-step tile at a time, starting each tile but the first from
    # the H the forward kept at the previous tile's last step; PARASPIKE_RECOMPUTE_H=0 saves all of H.
    monkeypatch.delenv("PARASPIKE_RECOMPUTE_H", raising=False)
    x = torch.randn(steps, 4, 8, requires_grad=True)
    saved = [t for t in _saved_tensors_of_a_training_call(DSN(8, backend="cpu"), x) if t.shape[1:] == x.shape[1:]]
    assert sorted(t.shape[0] for t in saved if t.dim() == 3) == sorted([steps, (steps - 1) // 32])
    monkeypatch.setenv("PARASPIKE_RECOMPUTE_H", "0")
    saved = [t for t in _saved_tensors_of_a_training_call(DSN(8, backend="cpu"), x) if t.shape == x.shape]
    assert len(saved) == (1 if steps == 1 else 2)  # one step: H is the final state, not a sequence


@needs_kernel
def test_backward_from_checkpoints_it_cannot_use_is_a_clear_error():
    import paraspike.kernels.cpu  # noqa: F401  (the ops)

    def backward(steps: int, taps: int, h: torch.Tensor) -> None:
        x = torch.randn(steps, 2, 3)
        weight, bias = torch.randn(3, taps), torch.zeros(3)
        torch.ops.paraspike.dsn_cpu_backward(
            x, None, None, x, None, None, h, weight, bias, 0.25, 1.0, 4, 0, 2.0, True, False, False
        )

    with pytest.raises(RuntimeError, match="recomputes H from checkpoints only for k <= 4 taps, got k = 5"):
        backward(8, 5, torch.empty(0, 2, 3))
    with pytest.raises(RuntimeError, match=r"potentials or their checkpoints \[\(T-1\)/32, B, C, \*\] = \[2, "):
        backward(70, 4, torch.empty(1, 2, 3))


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(37, 3, 5), (70, 2, 3, 6, 6), (5, 3, 2, 20, 15)])
def test_fused_dsn_backward_traversals_give_identical_gradients(shape, dtype, monkeypatch):
    # Both traversals do the same operations in the same order per neuron: results agree bit for bit.
    torch.manual_seed(7)
    neuron = DSN(shape[2], backend="cpu", max_spike=4).to(dtype)
    with torch.no_grad():
        neuron.decay_logit.weight.mul_(3.0)
    x = torch.randn(*shape, dtype=dtype).requires_grad_()
    weights = torch.randn(shape, dtype=dtype)

    def gradients(row_major_bytes: str) -> list[torch.Tensor]:
        monkeypatch.setenv("PARASPIKE_ROW_MAJOR_BYTES", row_major_bytes)
        neuron.reset()
        loss = (neuron(x) * weights).sum() + neuron.h.square().sum()
        return list(torch.autograd.grad(loss, [x, neuron.decay_logit.weight, neuron.decay_logit.bias]))

    by_rows, by_strips = gradients("0"), gradients(str(1 << 62))
    for a, b in zip(by_rows, by_strips, strict=True):
        assert torch.equal(a, b)


@needs_kernel
@pytest.mark.parametrize(
    "options, shape",
    [
        ({"max_spike": 4}, (70, 2, 3, 6, 6)),  # three tiles of steps, a partial last strip
        ({"max_spike": 1}, (37, 2, 40)),
        ({"max_spike": 4}, (9, 64, 3)),  # one block per batch row
    ],
)
def test_fused_dsn_with_outputs_stored_past_the_caches_equals_naive(options, shape, monkeypatch):
    # Outputs from half the last-level cache up are written with non-temporal stores; force that path.
    monkeypatch.setenv("PARASPIKE_STREAMING_BYTES", "0")
    test_fused_dsn_equals_naive_values_and_all_gradients(options, shape, with_state=True)


@needs_kernel
def test_fused_dsn_reuses_its_large_output_blocks_and_reused_blocks_hold_no_stale_values():
    # [8, 2, 2, 128, 128] float64: 4 MiB per stream, so spikes, H and dx come from the output pool
    from paraspike.kernels.cpu import output_cache_stats, release_output_cache
    from paraspike.ops.dsn_fused import dsn_fused_cpu

    if os.environ.get("PARASPIKE_OUTPUT_CACHE_MB", "1024") == "0":
        pytest.skip("output pool turned off by PARASPIKE_OUTPUT_CACHE_MB=0")
    shape = (8, 2, 2, 128, 128)
    weight, bias = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, dtype=torch.float64)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        spikes, h, _ = dsn_fused_cpu(x, None, None, weight, bias, tau=0.25, v_threshold=1.0, max_spike=4, store_h=True)
        return spikes, h

    spikes, h = forward(torch.randn(*shape, dtype=torch.float64) * 3)
    assert h is not None and spikes.data_ptr() % (2 << 20) == 0 and h.data_ptr() % (2 << 20) == 0
    addresses = {spikes.data_ptr(), h.data_ptr()}
    before = output_cache_stats()
    del spikes, h  # both blocks go back to the free list
    assert output_cache_stats()["held_bytes"] >= before["held_bytes"] + 2 * (4 << 20)
    x = torch.zeros(*shape, dtype=torch.float64)  # all-zero input: any stale value would show
    spikes, h = forward(x)
    after = output_cache_stats()
    assert after["hits"] >= before["hits"] + 2 and {spikes.data_ptr(), h.data_ptr()} == addresses
    assert not spikes.any() and not h.any()
    # and the pooled path gives the naive reference's values and gradients
    test_fused_dsn_equals_naive_values_and_all_gradients({"max_spike": 4}, shape, with_state=False)
    del spikes, h
    release_output_cache()
    assert output_cache_stats()["held_bytes"] == 0


@needs_kernel
def test_medium_outputs_and_the_final_state_are_pooled_too_small_ones_are_not():
    # [1, 2, 2, 128, 128] float64: 512 KiB per stream and for H_T (page-aligned, 64 KiB granules); a
    # 128 KiB stream stays with PyTorch's allocator
    from paraspike.kernels.cpu import output_cache_stats
    from paraspike.ops.dsn_fused import dsn_fused_cpu

    if os.environ.get("PARASPIKE_OUTPUT_CACHE_MB", "1024") == "0":
        pytest.skip("output pool turned off by PARASPIKE_OUTPUT_CACHE_MB=0")
    weight, bias = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, dtype=torch.float64)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        options = {"tau": 0.25, "v_threshold": 1.0, "max_spike": 4, "store_h": True}
        spikes, h, last = dsn_fused_cpu(x, None, None, weight, bias, **options)
        assert h is not None
        return spikes, h, last

    outputs = forward(torch.randn(1, 2, 2, 128, 128, dtype=torch.float64) * 3)
    assert all(t.data_ptr() % 4096 == 0 for t in outputs)
    addresses = {t.data_ptr() for t in outputs}
    before = output_cache_stats()
    del outputs
    assert output_cache_stats()["held_bytes"] >= before["held_bytes"] + 3 * (512 << 10)
    outputs = forward(torch.zeros(1, 2, 2, 128, 128, dtype=torch.float64))
    assert output_cache_stats()["hits"] >= before["hits"] + 3 and {t.data_ptr() for t in outputs} == addresses
    assert not any(t.any() for t in outputs)
    del outputs
    small = output_cache_stats()
    forward(torch.randn(1, 2, 2, 64, 64, dtype=torch.float64))  # 128 KiB: below the pool's threshold
    assert output_cache_stats()["hits"] == small["hits"] and output_cache_stats()["misses"] == small["misses"]


@needs_kernel
def test_pooled_outputs_behave_like_plain_tensors_when_grown():
    from paraspike.kernels.cpu import output_cache_stats
    from paraspike.ops.dsn_fused import dsn_fused_cpu

    x = torch.randn(8, 2, 2, 128, 128, dtype=torch.float64)
    spikes, _, _ = dsn_fused_cpu(
        x,
        None,
        None,
        torch.randn(2, 4, dtype=torch.float64),
        torch.randn(2, dtype=torch.float64),
        tau=0.25,
        v_threshold=1.0,
        max_spike=4,
    )
    assert spikes.untyped_storage().resizable()
    copy = spikes.clone()
    held = output_cache_stats()["held_bytes"]
    spikes.resize_(16, 2, 2, 128, 128)  # reallocated by PyTorch; the pooled block goes back to the pool
    assert torch.equal(spikes[:8], copy)
    if os.environ.get("PARASPIKE_OUTPUT_CACHE_MB", "1024") != "0":
        assert output_cache_stats()["held_bytes"] >= held + (4 << 20)


@needs_kernel
def test_output_pool_can_be_switched_off():
    # read when the kernels load: a fresh interpreter with PARASPIKE_OUTPUT_CACHE_MB=0 gets plain tensors
    code = (
        "import torch; from paraspike.ops.dsn_fused import dsn_fused_cpu\n"
        "from paraspike.kernels.cpu import output_cache_stats\n"
        "x = torch.randn(8, 2, 2, 128, 128, dtype=torch.float64)\n"
        "for _ in range(2):\n"
        "    s, h, _ = dsn_fused_cpu(x, None, None, torch.randn(2, 4, dtype=torch.float64),"
        " torch.randn(2, dtype=torch.float64), tau=0.25, v_threshold=1.0, max_spike=4, store_h=True)\n"
        "    del s, h\n"
        "print(*output_cache_stats().values())\n"
    )
    env = {**os.environ, "PARASPIKE_OUTPUT_CACHE_MB": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0", "0", "0"]


@needs_kernel
@pytest.mark.parametrize("tau", [0.25, 0.3, 0.7])  # 0.3 and 0.7: the general-tau path (vector log1p, expm1)
def test_fused_dsn_float32_matches_naive(tau):
    torch.manual_seed(1)
    reference = DSN(16, backend="naive", store_h_seq=True, tau=tau)
    fused = DSN(16, backend="cpu", tau=tau)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(300, 4, 16, requires_grad=True)
    s_ref = reference(x)
    g_ref = torch.autograd.grad((s_ref * torch.linspace(-1, 1, 16)).sum(), x)[0]
    s_fused = fused(x)
    g_fused = torch.autograd.grad((s_fused * torch.linspace(-1, 1, 16)).sum(), x)[0]
    assert_spikes_equal_up_to_ties(reference, s_fused, s_ref, reference.h_seq.detach())
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-4, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("tau", [0.25, 0.5, 1.0, 0.3])  # each specialised power, and the general path
def test_fused_float32_potentials_are_within_float32_rounding_of_the_float64_reference(tau):
    # the kernel's own exp, reciprocal and powers: H over 300 steps within a few float32 ulps of |H| ~ 3
    torch.manual_seed(2)
    reference = DSN(16, backend="naive", store_h_seq=True, tau=tau).double()
    fused = DSN(16, backend="cpu", store_h_seq=True, tau=tau)
    fused.load_state_dict({name: value.float() for name, value in reference.state_dict().items()})
    x = torch.randn(300, 4, 16) * 3
    reference(x.double())
    fused(x)
    torch.testing.assert_close(fused.h_seq.double(), reference.h_seq, rtol=0, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("options", [{"max_spike": 4}, {"max_spike": 1, "tau": 0.3}])
def test_single_steps_run_the_fused_kernel_and_equal_the_naive_serial_update(options):
    torch.manual_seed(4)
    reference, fused = _pair(5, step_mode="s", **options)
    x = (torch.randn(7, 3, 5, dtype=torch.float64) * 1.5).requires_grad_()
    weights = torch.randn(7, 3, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    results = []
    for neuron in (reference, fused):
        spikes = torch.stack([neuron(step) for step in x])
        loss = (spikes * weights[0]).sum() + (neuron.h * weights[1]).sum()
        grads = torch.autograd.grad(loss, [x, neuron.decay_logit.weight, neuron.decay_logit.bias])
        results.append((spikes.detach(), neuron.h.detach(), grads))
    assert "DsnFunction" in fused(x[0]).grad_fn.next_functions[0][0].name()  # one op per step
    torch.testing.assert_close(results[1][1], results[0][1])
    assert torch.equal(results[1][0], results[0][0])
    for got, expected in zip(results[1][2], results[0][2], strict=True):
        torch.testing.assert_close(got, expected)


@needs_kernel
def test_one_step_calls_without_stored_h_backpropagate_through_the_final_state():
    # T = 1 and H not kept: the kernel writes no H, backward reads H_1 from the final state
    torch.manual_seed(5)
    reference = DSN(4, backend="naive").double()
    fused = DSN(4, backend="cpu").double()
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    history = torch.randn(3, 3, 4, dtype=torch.float64, requires_grad=True)
    grads = []
    for neuron in (reference, fused):
        neuron.set_state(DSNState(h0, history))
        loss = sum((neuron(x[t : t + 1]) * (t + 1)).sum() + (neuron.h * 0.5).sum() for t in range(6))
        grads.append(torch.autograd.grad(loss, [x, h0, history, neuron.decay_logit.weight]))
    for got, expected in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(got, expected)


@needs_kernel
def test_fused_streaming_in_chunks_equals_one_call():
    torch.manual_seed(2)
    neuron = DSN(6, backend="cpu").double()
    x = torch.randn(50, 3, 6, dtype=torch.float64)
    whole = neuron(x)
    neuron.reset()
    parts = [neuron(chunk) for chunk in torch.split(x, [1, 2, 17, 30])]
    assert torch.equal(torch.cat(parts), whole)
    neuron.reset()
    mixed = [neuron(x[:10])]
    neuron.step_mode = "s"
    mixed += [neuron(x[t]).unsqueeze(0) for t in range(10, 50)]
    assert torch.equal(torch.cat(mixed), whole)


@needs_kernel
def test_fused_half_precision_runs_in_float32():
    torch.manual_seed(3)
    neuron = DSN(8, backend="cpu")
    x = torch.randn(40, 2, 8)
    expected = neuron(x)
    neuron.reset()
    got = neuron(x.to(torch.bfloat16))
    assert got.dtype == torch.bfloat16
    assert (got.float() != expected).float().mean() < 0.05  # inputs rounded to bfloat16 move a few ties


@needs_kernel
@pytest.mark.parametrize("steps", [2, 8, 40])  # H recomputed by the backward (2, 8) and saved (40)
def test_half_precision_gradients_are_the_float32_gradients_of_the_rounded_input(steps):
    # bfloat16 inputs run in float32 both ways (recomputing H from the converted input backward): the
    # gradients are those of the float32 layer on the same (rounded) values, dx rounded to bfloat16.
    torch.manual_seed(5)
    neuron = DSN(8, backend="cpu")
    x_half = torch.randn(steps, 3, 8).to(torch.bfloat16).requires_grad_()
    x_float = x_half.detach().float().requires_grad_()
    weights = torch.randn(steps, 3, 8).to(torch.bfloat16).float()  # the spikes' gradient is bfloat16 then
    grads = []
    for x in (x_half, x_float):
        neuron.reset()
        loss = (neuron(x).float() * weights).sum()
        grads.append(torch.autograd.grad(loss, [x, neuron.decay_logit.weight, neuron.decay_logit.bias]))
    (dx_half, dw_half, db_half), (dx_float, dw_float, db_float) = grads
    assert dx_half.dtype == torch.bfloat16
    assert torch.equal(dx_half, dx_float.to(torch.bfloat16))
    assert torch.equal(dw_half, dw_float) and torch.equal(db_half, db_float)


@needs_kernel
@pytest.mark.parametrize("steps", [1, 7, 300])
def test_cpu_scan_backend_equals_naive_with_gradients(steps):
    torch.manual_seed(steps)
    u = torch.randn(steps, 3, 5, dtype=torch.float64, requires_grad=True)
    g = (-torch.rand(steps, 3, 5, dtype=torch.float64) * 2).requires_grad_()
    h0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    results = {}
    for backend in ("naive", "cpu"):
        h, last = linear_scan(u, g, h0, backend=backend)
        loss = (h * torch.cos(h)).sum() + 3 * last.sum()
        results[backend] = (h, *torch.autograd.grad(loss, (u, g, h0)))
    for got, want in zip(results["cpu"], results["naive"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_disabled_kernel_is_a_clear_error_and_auto_falls_back():
    code = (
        "import torch\n"
        "from paraspike.ops import resolve_scan_backend\n"
        "from paraspike import DSN\n"
        "assert resolve_scan_backend('auto', 'cpu') == 'chunked'\n"
        "assert not DSN(4).uses_fused_cpu_kernel('cpu')\n"
        "try:\n"
        "    resolve_scan_backend('cpu', 'cpu')\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    env = dict(os.environ, PARASPIKE_CPU_KERNEL="0")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "scan backend 'cpu' cannot run on cpu" in result.stdout
    assert "PARASPIKE_CPU_KERNEL=0" in result.stdout


def test_kernel_refuses_non_cpu_devices():
    reason = cpu_kernel_unavailable_reason(torch.device("meta"))
    assert reason is not None and "CPU tensors only" in reason


def test_auto_warns_once_when_it_falls_back_because_the_kernel_cannot_build(monkeypatch):
    import warnings

    from paraspike.ops import scan

    broken = scan.ScanBackend("cpu", scan._BACKENDS["cpu"].function, lambda d: "the compiler failed", 20)
    monkeypatch.setitem(scan._BACKENDS, "cpu", broken)
    monkeypatch.setattr(scan, "_WARNED_FALLBACK", set())
    scan.clear_backend_cache()
    try:
        with pytest.warns(
            RuntimeWarning, match=r"uses 'chunked' on the CPU because the fused CPU kernel is unavailable"
        ):
            assert resolve_scan_backend("auto", "cpu") == "chunked"
        scan.clear_backend_cache()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert resolve_scan_backend("auto", "cpu") == "chunked"  # once per process
    finally:
        scan.clear_backend_cache()
