"""Tutorial 3: train in parallel, run serially. A model trained in multi-step mode (a parallel scan over
time) runs step by step in single-step mode with the same outputs, streams a long input in chunks with
constant memory, and saves and restores its state.

Run: python docs/tutorials/parallel_train_serial_run.py
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from paraspike import DSN, reset_net, set_step_mode
from paraspike.nn import MultiStep


def make_model() -> nn.Module:
    return nn.Sequential(MultiStep(nn.Linear(3, 32)), DSN(32), MultiStep(nn.Linear(32, 1)))


def main(out: Path = Path("docs/tutorials/figures"), quick: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    model = make_model()
    # A toy task: predict the running mean of the first input channel. Inputs [T, B, 3].
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(20 if quick else 200):
        x = torch.randn(64, 16, 3)
        target = x[..., :1].cumsum(0) / torch.arange(1, 65).view(64, 1, 1)
        reset_net(model)  # a new sequence: forget the state
        loss = (model(x) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    x = torch.randn(256, 2, 3)
    with torch.no_grad():
        reset_net(model)
        parallel = model(x)  # multi-step: one call over all 256 steps

        set_step_mode(model, "s")  # single-step: one call per step, O(1) state
        reset_net(model)
        serial = torch.stack([model(x_t) for x_t in x])
        set_step_mode(model, "m")

        reset_net(model)  # streaming: chunks of any size continue the state
        chunks = torch.cat([model(chunk) for chunk in x.split([100, 7, 149])])

        reset_net(model)  # save the state mid-sequence, restore it into another copy
        first = model(x[:128])
        saved = model[1].state  # a DSNState (H and the conv's last k-1 inputs)
        twin = make_model().eval()
        twin.load_state_dict(model.state_dict())
        twin[1].set_state(saved)
        rest = twin(x[128:])
    results = {
        "final_loss": loss.item(),
        "serial_vs_parallel": float((serial - parallel).abs().max()),
        "chunks_vs_parallel": float((chunks - parallel).abs().max()),
        "restored_vs_parallel": float((torch.cat([first, rest]) - parallel).abs().max()),
    }
    assert max(results[k] for k in results if k != "final_loss") < 1e-4
    return results


if __name__ == "__main__":
    print(main())
