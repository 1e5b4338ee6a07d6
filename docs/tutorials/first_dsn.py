"""Tutorial 1: your first DSN. The neuron, its spikes and membrane on a toy input, integer against
binary firing, and what each hyperparameter does.

Run: python docs/tutorials/first_dsn.py  (writes docs/tutorials/figures/first_dsn*.png)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from paraspike import DSN
from paraspike.plot import membrane_trace, raster


def toy_input(steps: int = 120) -> torch.Tensor:
    """One channel, one sample: a slow sine, a step at t = 60 and a burst at t = 90. Shape [T, 1, 1]."""
    t = torch.arange(steps, dtype=torch.float32)
    x = 0.8 + 0.6 * torch.sin(2 * torch.pi * t / 40) + 1.5 * (t >= 60) - 1.5 * (t >= 75) + 3.0 * ((t >= 90) & (t < 93))
    return x.view(steps, 1, 1)


@torch.no_grad()
def set_decay(neuron: DSN) -> None:
    """Hand-set decay conv (a trained one learns its own): logit a' = 4 - 1.5 mean(x_{t-k+1..t}). A quiet
    input keeps alpha = sigmoid(4)^(1/tau) ~ 0.93 (long memory); a large recent input drives alpha
    towards 0, so H jumps to the input and forgets the past: an input-dependent reset. A wider window k
    reacts later and for longer."""
    neuron.decay_logit.bias.fill_(4.0)
    neuron.decay_logit.weight.fill_(-1.5 / neuron.kernel_size)


@torch.no_grad()
def main(out: Path = Path("docs/tutorials/figures"), quick: bool = False) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    x = toy_input()

    # The DSN takes [T, B, C, *] (time first) in multi-step mode. Its decay alpha_t = sigmoid(a'_t)^(1/tau)
    # comes from a causal conv over the last k inputs; H_t = alpha_t H_{t-1} + (1 - alpha_t) x_t;
    # S_t = clip(floor(H_t / V_th + 1/2), 0, N).
    integer = DSN(1, kernel_size=4, tau=0.25, max_spike=4, store_h_seq=True)
    binary = DSN(1, kernel_size=4, tau=0.25, max_spike=1, store_h_seq=True)
    set_decay(integer)
    binary.load_state_dict(integer.state_dict())  # the same decay conv: only the firing differs
    counts, spikes = integer(x), binary(x)
    assert torch.equal(integer.h_seq, binary.h_seq)  # firing does not feed back: no reset

    fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
    axes[0].plot(x[:, 0, 0], color="0.3")
    axes[0].set_ylabel("input x")
    membrane_trace(integer.h_seq[:, 0, 0], counts[:, 0, 0], threshold=0.5, ax=axes[1], label="H (N = 4)")
    axes[1].set_title("integer firing: counts 0..4 (labels)", fontsize=9)
    membrane_trace(binary.h_seq[:, 0, 0], spikes[:, 0, 0], threshold=0.5, ax=axes[2], color="tab:orange")
    axes[2].set_title("binary firing (N = 1): the same H, one spike at most", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "first_dsn.png", dpi=100)
    plt.close(fig)

    # What the hyperparameters do: tau (the decay's exponent 1/tau), k (the conv's window), N (counts).
    rows = {}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    for ax, (name, options) in zip(
        axes,
        [
            ("tau", [{"tau": 1.0}, {"tau": 0.25}, {"tau": 0.1}]),
            ("kernel_size", [{"kernel_size": k} for k in (1, 4, 16)]),
            ("max_spike", [{"max_spike": n} for n in (1, 2, 4)]),
        ],
        strict=True,
    ):
        for option in options:
            neuron = DSN(1, store_h_seq=True, **option)
            set_decay(neuron)
            s = neuron(x)
            label = f"{name}={list(option.values())[0]}"
            ax.plot(neuron.h_seq[:, 0, 0], label=f"{label}: {int(s.sum())} spikes", linewidth=1)
            rows[label] = float(s.sum())
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "first_dsn_hyperparameters.png", dpi=100)
    plt.close(fig)

    layer = DSN(16)  # a layer of 16 neurons on a random current: a raster plot
    raster(layer(torch.rand(100, 1, 16) * 2), title="16 DSN neurons, N = 4 (mark size: count)")
    plt.savefig(out / "first_dsn_raster.png", dpi=100)
    plt.close("all")
    return rows


if __name__ == "__main__":
    print(main())
