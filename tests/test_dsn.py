"""The DSN: parallel (multi-step) and serial (single-step) forms are one neuron."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_spikes_equal_up_to_ties
from paraspike import DSN, DSNState, reset_net
from paraspike.neurons import DECAY_GENERATORS

VARIANTS = [
    *[{"decay": name} for name in DECAY_GENERATORS],
    {"enhanced": True},
    {"enhanced": True, "mixing": "low_rank", "rank": 2},
    {"max_spike": 1},
    {"max_spike": 2, "kernel_size": 1},
    {"max_spike": 1, "kernel_size": 3},
    {"kernel_size": 2, "tau": 0.3},
    {"kernel_size": 7, "tau": 0.5, "v_threshold": 0.7},
]


def _serial(neuron: DSN, x_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and potentials from single-step calls."""
    neuron.reset()
    neuron.step_mode = "s"
    spikes, potentials = [], []
    for x in x_seq:
        spikes.append(neuron(x))
        potentials.append(neuron.h)
    neuron.step_mode = "m"
    return torch.stack(spikes), torch.stack(potentials)


def _parallel(neuron: DSN, x_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    neuron.reset()
    neuron.store_h_seq = True
    spikes = neuron(x_seq)
    return spikes, neuron.h_seq


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("steps", [1, 7, 300])
def test_parallel_equals_serial(options, steps):
    neuron = DSN(6, **options)
    x_seq = torch.randn(steps, 4, 6, 3) * 3
    spikes_p, h_p = _parallel(neuron, x_seq)
    spikes_s, h_s = _serial(neuron, x_seq)
    torch.testing.assert_close(h_p, h_s, rtol=1e-5, atol=1e-5)
    assert_spikes_equal_up_to_ties(neuron, spikes_p, spikes_s, h_p)


@pytest.mark.parametrize("options", VARIANTS[:3], ids=str)
def test_parallel_equals_serial_exactly_in_float64(options):
    neuron = DSN(5, **options).double()
    x_seq = torch.randn(500, 2, 5, dtype=torch.float64) * 3
    spikes_p, h_p = _parallel(neuron, x_seq)
    spikes_s, h_s = _serial(neuron, x_seq)
    torch.testing.assert_close(h_p, h_s, rtol=1e-12, atol=1e-12)
    assert_spikes_equal_up_to_ties(neuron, spikes_p, spikes_s, h_p, tol=1e-9, max_fraction=0.0)


def test_naive_and_chunked_backends_give_the_same_neuron_and_gradients():
    x_seq = torch.randn(200, 3, 4, dtype=torch.float64, requires_grad=True)
    results = []
    for backend in ("naive", "chunked"):
        torch.manual_seed(1)
        neuron = DSN(4, backend=backend, max_spike=1, store_h_seq=True).double()
        spikes = neuron(x_seq)
        loss = (spikes * torch.arange(200.0, dtype=torch.float64)[:, None, None]).sum() + neuron.h_seq.sum()
        grads = torch.autograd.grad(loss, [x_seq, *neuron.parameters()])
        results.append((spikes, *grads))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_streaming_chunks_equal_one_call(options):
    neuron = DSN(6, **options)
    neuron.store_h_seq = True
    x_seq = torch.randn(257, 2, 6) * 3
    whole = neuron(x_seq)
    h_whole = neuron.h_seq
    neuron.reset()
    parts, potentials = [], []
    for chunk in torch.split(x_seq, [1, 2, 60, 100, 94]):
        parts.append(neuron(chunk))
        potentials.append(neuron.h_seq)
    torch.testing.assert_close(torch.cat(potentials), h_whole, rtol=1e-5, atol=1e-5)
    assert_spikes_equal_up_to_ties(neuron, torch.cat(parts), whole, h_whole)


def test_history_after_calls_shorter_than_the_window_is_the_padded_window_with_gradients():
    """A call of fewer than k-1 steps only notes its inputs; reading the history builds the window."""
    neuron = DSN(3, kernel_size=5)  # window of 4 inputs
    x = torch.randn(3, 2, 3, requires_grad=True)
    neuron(x[:1])
    torch.testing.assert_close(neuron.history, torch.cat([torch.zeros(3, 2, 3), x[:1]]))
    neuron(x[1:3])  # the earlier window in front
    expected = torch.cat([torch.zeros(1, 2, 3), x[:3]])
    torch.testing.assert_close(neuron.history, expected)
    assert torch.equal(torch.autograd.grad(neuron.history.sum(), x)[0], torch.ones_like(x))  # TBPTT reaches them
    saved = neuron.state
    neuron.reset()
    assert neuron.history is None
    neuron.set_state(saved)
    torch.testing.assert_close(neuron.history, expected)


def test_single_and_multi_step_calls_mix_on_one_stream():
    neuron = DSN(3, store_h_seq=True)
    x_seq = torch.randn(50, 2, 3) * 3
    whole = neuron(x_seq)
    h_whole = neuron.h_seq
    neuron.reset()
    pieces = [neuron(x_seq[:10])]
    neuron.step_mode = "s"
    pieces += [neuron(x)[None] for x in x_seq[10:25]]
    neuron.step_mode = "m"
    pieces.append(neuron(x_seq[25:]))
    torch.testing.assert_close(neuron.h, h_whole[-1], rtol=1e-5, atol=1e-5)
    assert_spikes_equal_up_to_ties(neuron, torch.cat(pieces), whole, h_whole)


def test_state_round_trip_between_modules():
    first = DSN(3)
    x_seq = torch.randn(40, 2, 3)
    first(x_seq[:20])
    second = DSN(3)
    second.load_state_dict(first.state_dict())
    second.set_state(first.state)
    torch.testing.assert_close(second(x_seq[20:]), first(x_seq[20:]))


def test_state_dict_identical_in_both_modes():
    neuron = DSN(4)
    keys_m = {k: v.clone() for k, v in neuron.state_dict().items()}
    neuron(torch.randn(5, 2, 4))
    neuron.step_mode = "s"
    neuron(torch.randn(2, 4))
    assert neuron.state_dict().keys() == keys_m.keys()
    assert all(torch.equal(neuron.state_dict()[k], v) for k, v in keys_m.items())


def test_reset_starts_a_new_sequence():
    neuron = DSN(4)
    x_seq = torch.randn(30, 2, 4) * 3
    first = neuron(x_seq)
    neuron(x_seq)
    neuron.reset()
    assert neuron.h is None and neuron.history is None
    torch.testing.assert_close(neuron(x_seq), first)


def test_reset_net_resets_every_neuron():
    net = torch.nn.Sequential(DSN(4), DSN(4))
    net(torch.randn(3, 2, 4))
    reset_net(net)
    assert all(m.h is None for m in net)


def test_spikingjelly_reset_net_resets_dsn():
    functional = pytest.importorskip(
        "spikingjelly.activation_based.functional",
        reason="spikingjelly not installed (pip install --no-deps spikingjelly==2.0.0 loguru)",
    )
    net = torch.nn.Sequential(torch.nn.Identity(), DSN(4))
    net(torch.randn(3, 2, 4))
    assert net[1].h is not None
    functional.reset_net(net)
    assert net[1].h is None and net[1].history is None


def test_gradients_reach_every_parameter_and_input():
    for options in VARIANTS:
        neuron = DSN(4, **options)
        x_seq = torch.randn(20, 3, 4, requires_grad=True)
        neuron(x_seq).sum().backward()
        assert x_seq.grad is not None and x_seq.grad.abs().sum() > 0, options
        for name, p in neuron.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (options, name)


def test_spikes_are_integer_counts_in_range():
    neuron = DSN(8, max_spike=3)
    spikes = neuron(torch.randn(100, 4, 8) * 10)
    assert spikes.min() >= 0 and spikes.max() == 3
    assert torch.equal(spikes, spikes.round())


class TestErrors:
    def test_wrong_channel_count(self):
        with pytest.raises(ValueError, match="built for 4 channels but input .* has 5 at dimension 2"):
            DSN(4)(torch.randn(3, 2, 5))

    def test_wrong_channel_count_single_step(self):
        with pytest.raises(ValueError, match="has 5 at dimension 1"):
            DSN(4, step_mode="s")(torch.randn(2, 5))

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match=r"expects \[T, B, C, \*\], got shape \(2, 4\).*step_mode='s'"):
            DSN(4)(torch.randn(2, 4))

    def test_integer_dtype(self):
        with pytest.raises(TypeError, match="must be floating point, got dtype torch.int64"):
            DSN(4)(torch.ones(3, 2, 4, dtype=torch.int64))

    def test_state_of_wrong_shape(self):
        neuron = DSN(4)
        neuron(torch.randn(3, 2, 4))
        with pytest.raises(ValueError, match=r"state has shape \(2, 4\) but the input step is \(5, 4\).*reset\(\)"):
            neuron(torch.randn(3, 5, 4))

    def test_set_state_with_wrong_history(self):
        with pytest.raises(ValueError, match="state.history must hold the last 3 inputs"):
            DSN(4).set_state(DSNState(torch.zeros(2, 4), torch.zeros(1, 2, 4)))

    @pytest.mark.parametrize(
        "options,match",
        [
            ({"kernel_size": 0}, "kernel_size must be an int >= 1"),
            ({"max_spike": 0}, "max_spike must be an int >= 1"),
            ({"tau": 0.0}, "tau must be > 0"),
            ({"tau": -1.0}, "tau must be > 0"),
            ({"v_threshold": 0}, "v_threshold must be > 0"),
            ({"decay": "conv"}, "unknown decay generator 'conv'"),
            ({"backend": "cuda-fast"}, "unknown scan backend 'cuda-fast'"),
            ({"surrogate": "erf"}, "unknown surrogate 'erf'"),
            ({"step_mode": "x"}, "step_mode must be 'm'"),
            ({"enhanced": True, "decay": "static"}, "cannot be enhanced"),
            ({"enhanced": True, "mixing": "attention"}, "unknown mixing 'attention'"),
            ({"decay": "low_rank", "rank": 0}, "rank must be a positive int"),
        ],
    )
    def test_invalid_hyperparameters(self, options, match):
        with pytest.raises(ValueError, match=match):
            DSN(4, **options)

    def test_invalid_channels(self):
        with pytest.raises(ValueError, match="channels must be an int >= 1"):
            DSN(0)
