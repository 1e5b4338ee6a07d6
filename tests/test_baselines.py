"""Baseline neurons: outputs and gradients equal to SpikingJelly 2.0.0's, defects fixed, the registry."""

from __future__ import annotations

import pytest
import torch

from paraspike.neurons import ILIF, LIF, PLIF, PSN, MaskedPSN, SlidingPSN, build_neuron, neuron_names

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron", reason="spikingjelly 2.0.0 not installed")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")

SJ_SURROGATES = {"sigmoid": lambda: sj_surrogate.Sigmoid(alpha=4.0), "atan": lambda: sj_surrogate.ATan(alpha=2.0)}


def _outputs_and_grads(module, x: torch.Tensor, chunks: list[int], params: list[str]):
    """Spikes of ``x`` fed in ``chunks`` (multi-step calls) and grads of a weighted sum w.r.t. x and params."""
    x = x.clone().requires_grad_()
    out = torch.cat([module(part) for part in torch.split(x, chunks)])
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).view(out.shape)
    tensors = [x, *(getattr(module, name) for name in params)]
    grads = torch.autograd.grad((out * weights).sum(), tensors)
    return out.detach(), grads


def _assert_same(ours, theirs):
    out_a, grads_a = ours
    out_b, grads_b = theirs
    assert torch.equal(out_a, out_b.to(out_a.dtype))
    for got, want in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(got, want.to(got.dtype), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------- LIF family
LIF_CASES = [
    {"tau": 2.0, "decay_input": True, "reset": "hard", "v_reset": 0.0, "surrogate": "sigmoid"},
    {"tau": 3.5, "decay_input": False, "reset": "hard", "v_reset": -0.3, "surrogate": "atan"},
    {"tau": 2.0, "decay_input": True, "reset": "soft", "surrogate": "sigmoid"},
    {"tau": 1.5, "decay_input": False, "reset": "soft", "surrogate": "atan", "detach_reset": True},
    {"tau": 2.0, "decay_input": True, "reset": "hard", "v_reset": 0.0, "surrogate": "sigmoid", "detach_reset": True},
]


def _sj_lif(options: dict, cls=None, **extra):
    cls = cls or sj_neuron.LIFNode
    v_reset = None if options["reset"] == "soft" else options.get("v_reset", 0.0)
    return cls(
        decay_input=options["decay_input"],
        v_reset=v_reset,
        surrogate_function=SJ_SURROGATES[options["surrogate"]](),
        detach_reset=options.get("detach_reset", False),
        step_mode="m",
        **extra,
    )


@pytest.mark.parametrize("options", LIF_CASES)
def test_lif_equals_spikingjelly_lifnode(options):
    torch.manual_seed(0)
    x = torch.randn(23, 3, 5, dtype=torch.float64) * 1.5
    ours = LIF(**options).double()
    theirs = _sj_lif(options, tau=options["tau"]).double()
    _assert_same(_outputs_and_grads(ours, x, [23], []), _outputs_and_grads(theirs, x, [23], []))
    ours.reset()
    sj_functional.reset_net(theirs)
    _assert_same(_outputs_and_grads(ours, x, [7, 16], []), _outputs_and_grads(theirs, x, [7, 16], []))


@pytest.mark.parametrize("options", LIF_CASES[:3])
def test_lif_single_step_equals_spikingjelly(options):
    torch.manual_seed(1)
    x = torch.randn(12, 2, 4, dtype=torch.float64) * 1.5
    ours = LIF(step_mode="s", **options).double()
    theirs = _sj_lif(options, tau=options["tau"]).double()
    theirs.step_mode = "s"
    for t in range(12):
        assert torch.equal(ours(x[t]), theirs(x[t]))
    torch.testing.assert_close(ours.v, theirs.v, rtol=0, atol=1e-14)


@pytest.mark.parametrize("options", LIF_CASES[:4])
def test_plif_equals_spikingjelly_parametric_lif(options):
    torch.manual_seed(2)
    x = torch.randn(19, 3, 4, dtype=torch.float64) * 1.5
    ours = PLIF(init_tau=options["tau"], **{k: v for k, v in options.items() if k != "tau"}).double()
    theirs = _sj_lif(options, cls=sj_neuron.ParametricLIFNode, init_tau=options["tau"]).double()
    _assert_same(_outputs_and_grads(ours, x, [19], ["w"]), _outputs_and_grads(theirs, x, [19], ["w"]))


@pytest.mark.parametrize("decay_input", [True, False])
def test_lif_without_reset_is_spikingjelly_charge_without_reset_and_runs_as_a_scan(decay_input):
    torch.manual_seed(3)
    x = torch.randn(40, 2, 6, dtype=torch.float64)
    ours = LIF(tau=2.5, decay_input=decay_input, reset="none").double()
    xr = x.clone().requires_grad_()
    v = torch.zeros_like(x[0])
    spikes = []
    fire = sj_surrogate.Sigmoid(alpha=4.0)
    for t in range(40):
        v = sj_functional.lif_charge(xr[t], v, 2.5, decay_input, None)
        spikes.append(fire(v - 1.0))
    reference = torch.stack(spikes)
    weights = torch.randn_like(x)
    (grad_ref,) = torch.autograd.grad((reference * weights).sum(), xr)
    xo = x.clone().requires_grad_()
    out = ours(xo)
    (grad_ours,) = torch.autograd.grad((out * weights).sum(), xo)
    assert torch.equal(out, reference)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.v, v.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_ilif_equals_spikingjelly_ilifnode(dtype, detach_reset):
    torch.manual_seed(4)
    x = torch.randn(21, 3, 5, dtype=dtype) * 2
    ours = ILIF(detach_reset=detach_reset).to(dtype)
    theirs = sj_neuron.ILIFNode(detach_reset=detach_reset, step_mode="m").to(dtype)
    out_a, grads_a = _outputs_and_grads(ours, x, [21], [])
    out_b, grads_b = _outputs_and_grads(theirs, x, [21], [])
    assert torch.equal(out_a, out_b)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(grads_a[0], grads_b[0], rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------- PSN family
def test_psn_equals_spikingjelly_psn():
    torch.manual_seed(5)
    x = torch.randn(16, 3, 4, dtype=torch.float64)
    theirs = sj_neuron.PSN(16).double()
    ours = PSN(16).double()
    ours.load_state_dict(theirs.state_dict())
    params = ["weight", "bias"]
    _assert_same(_outputs_and_grads(ours, x, [16], params), _outputs_and_grads(theirs, x, [16], params))


@pytest.mark.parametrize("lambda_", [0.0, 0.4, 1.0])
def test_masked_psn_equals_spikingjelly_multi_step(lambda_):
    torch.manual_seed(6)
    x = torch.randn(12, 2, 5, dtype=torch.float64)
    theirs = sj_neuron.MaskedPSN(k=3, T=12, lambda_init=lambda_, step_mode="m").double()
    ours = MaskedPSN(k=3, T=12, lambda_init=lambda_).double()
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
        ours.bias.copy_(theirs.bias)
    params = ["weight", "bias"]
    _assert_same(_outputs_and_grads(ours, x, [12], params), _outputs_and_grads(theirs, x, [12], params))


def test_masked_psn_single_step_equals_spikingjelly_then_continues_past_T():
    torch.manual_seed(7)
    T, k = 8, 3
    x = torch.randn(T + 5, 2, 4, dtype=torch.float64)
    theirs = sj_neuron.MaskedPSN(k=k, T=T, lambda_init=1.0, step_mode="s").double()
    ours = MaskedPSN(k=k, T=T, lambda_init=1.0, step_mode="s").double()
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
        ours.bias.copy_(theirs.bias)
    for t in range(T):
        assert torch.equal(ours(x[t]), theirs(x[t]))
    with pytest.raises(OverflowError):  # SpikingJelly's defect: it stops after T steps
        theirs(x[T])
    # ours continues with the taps and bias of the last row
    last_row = (ours.weight * ours.mask0)[T - 1, T - k :]
    for t in range(T, T + 5):
        window = x[t - k + 1 : t + 1].flatten(1)
        h = (last_row.unsqueeze(1) * window).sum(0) + ours.bias[T - 1]
        assert torch.equal(ours(x[t]), (h >= 0).double().view(x[t].shape))
    # and multi-step calls of any length agree with stepping
    ours.reset()
    ours.step_mode = "m"
    stepped = torch.cat([ours(x[:5]), ours(x[5:])])
    ours.reset()
    assert torch.equal(stepped, ours(x))


@pytest.mark.parametrize("lambda_", [0.0, 1.0])
def test_masked_psn_sliding_init_starts_as_the_sliding_psn(lambda_):
    x = torch.randn(12, 3, 5, dtype=torch.float64)
    masked = MaskedPSN(4, 12, lambda_init=lambda_, weight_init="sliding").double()
    sliding = SlidingPSN(4).double()
    torch.testing.assert_close(masked(x), sliding(x))  # zero outside the band: dense or masked alike
    masked.reset()
    x.requires_grad_(True)
    masked(x).sum().backward()
    assert masked.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="weight_init"):
        MaskedPSN(4, 12, weight_init="zeros")


def test_masked_psn_dense_phase_rejects_other_lengths():
    with pytest.raises(ValueError, match="exactly T=8 steps"):
        MaskedPSN(k=2, T=8)(torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match="lambda_ >= 1"):
        MaskedPSN(k=2, T=8, step_mode="s")(torch.randn(2, 3))


@pytest.mark.parametrize("exp_init", [True, False])
def test_sliding_psn_equals_spikingjelly(exp_init):
    torch.manual_seed(8)
    x = torch.randn(20, 3, 4, dtype=torch.float64)
    theirs = sj_neuron.SlidingPSN(k=4, exp_init=exp_init, step_mode="m").double()
    ours = SlidingPSN(k=4, exp_init=exp_init).double()
    ours.load_state_dict(theirs.state_dict())
    params = ["weight", "bias"]
    _assert_same(_outputs_and_grads(ours, x, [20], params), _outputs_and_grads(theirs, x, [20], params))
    ours.reset()
    stepping = SlidingPSN(k=4, exp_init=exp_init, step_mode="s").double()
    stepping.load_state_dict(theirs.state_dict())
    theirs.step_mode = "s"
    sj_functional.reset_net(theirs)
    for t in range(20):
        assert torch.equal(stepping(x[t]), theirs(x[t]))


def test_sliding_psn_keeps_its_state_across_multi_step_calls_unlike_spikingjelly():
    torch.manual_seed(9)
    x = torch.randn(30, 2, 6, dtype=torch.float64) + 0.8
    theirs = sj_neuron.SlidingPSN(k=5, step_mode="m").double()
    ours = SlidingPSN(k=5).double()
    ours.load_state_dict(theirs.state_dict())
    whole = ours(x)
    ours.reset()
    assert torch.equal(torch.cat([ours(part) for part in torch.split(x, [4, 11, 15])]), whole)
    sj_chunked = torch.cat([theirs(part) for part in torch.split(x, [4, 11, 15])])
    assert not torch.equal(sj_chunked, whole)  # SpikingJelly 2.0.0 forgets the previous chunk


def test_psn_errors_are_clear():
    with pytest.raises(ValueError, match="built for T=8 steps but the input has 5"):
        PSN(8)(torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match="no single-step form"):
        PSN(8).step_mode = "s"
    with pytest.raises(TypeError, match="floating-point"):
        SlidingPSN(3)(torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="tau must be a finite number > 1"):
        LIF(tau=0.5)
    with pytest.raises(ValueError, match="reset must be one of"):
        LIF(reset="sometimes")


# ---------------------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", neuron_names())
def test_registry_builds_every_neuron_and_it_runs_on_the_common_layout(name):
    torch.manual_seed(10)
    neuron = build_neuron(name, channels=4, steps=6)
    x = torch.randn(6, 2, 4, requires_grad=True)
    out = neuron(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    neuron.reset()  # every neuron has reset(); after it the same input gives the same spikes
    assert torch.equal(neuron(x.detach()), out.detach())


def test_registry_names_and_errors():
    assert {"dsn", "dsn-binary", "lif", "psn", "sliding-psn", "masked-psn", "plif", "ilif"} <= set(neuron_names())
    assert build_neuron("dsn-binary", channels=3).max_spike == 1
    assert build_neuron("sliding-psn", k=7).k == 7
    with pytest.raises(ValueError, match="unknown neuron 'lstm'"):
        build_neuron("lstm", channels=3)
    with pytest.raises(ValueError, match="needs channels="):
        build_neuron("dsn")
    with pytest.raises(ValueError, match="needs steps="):
        build_neuron("psn", channels=3)
    with pytest.raises(TypeError, match="neuron 'lif'"):
        build_neuron("lif", max_spike=3)
