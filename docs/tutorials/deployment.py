"""Tutorial 4: spike-driven deployment. Integer spike counts expand to binary spikes, the network runs
with binary-only synapses, its energy is estimated, and one step exports to ONNX with the state as
explicit inputs and outputs (checked with onnxruntime).

Run: python docs/tutorials/deployment.py  (writes docs/tutorials/figures/model_step.onnx)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from paraspike import DSN, expand_spikes, reset_net, to_spike_driven
from paraspike.energy import estimate_energy
from paraspike.export import run_onnx_sequence, to_onnx
from paraspike.nn import MultiStep, run_spike_driven


def main(out: Path = Path("docs/tutorials/figures"), quick: bool = False) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = nn.Sequential(
        MultiStep(nn.Conv2d(1, 8, 3, padding=1)), DSN(8), MultiStep(nn.Flatten()), MultiStep(nn.Linear(8 * 8 * 8, 10))
    ).eval()
    x = 2 * torch.rand(4, 3, 1, 8, 8)  # [T, B, C, H, W]

    counts = torch.tensor([0.0, 3.0, 1.0])  # one neuron, 3 steps, N = 4
    print("counts", counts.tolist(), "-> binary sub-steps", expand_spikes(counts.view(3, 1), 4).flatten().tolist())

    with torch.no_grad():
        reference = model(x)
        reset_net(model)
        twin = to_spike_driven(model)  # SpikeExpand + SpikeDrivenSynapse: 0/1 into every synapse
        rewritten = twin(x)
        reset_net(model)
        intercepted, report = run_spike_driven(model, x)  # any model, no rewrite
    reset_net(model)
    energy = estimate_energy(model, x, batch_dim=1)
    print(energy.format_table())

    export = to_onnx(model, x[0], out / "model_step.onnx")  # one step; state in, state out
    reset_net(model)
    onnx_out = torch.from_numpy(run_onnx_sequence(export, x.numpy()))
    results = {
        "spike_driven_rewrite_error": float((rewritten - reference).abs().max()),
        "spike_driven_run_error": float((intercepted - reference).abs().max()),
        "real_valued_synapse_calls": float(len(report.not_spike_driven())),  # the first conv reads pixels
        "energy_uj_per_sample": energy.energy_uj(),
        "onnx_error": float((onnx_out - reference).abs().max()),
    }
    assert results["onnx_error"] < 1e-4 and results["spike_driven_run_error"] < 1e-4
    return results


if __name__ == "__main__":
    print(main())
