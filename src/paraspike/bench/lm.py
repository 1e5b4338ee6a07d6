"""``paraspike bench lm``: training speed of the spiking SSM language model with each neuron.

One process builds the same language model (:class:`~paraspike.models.SpikingSSMLM`: ``--dim``,
``--depth``, ``--context``) with every neuron of ``--neurons`` and times the forward pass (tokens to
the cross-entropy loss) and the backward pass on one batch of ``--batch`` random windows, interleaved
(every round runs each model once, medians over the rounds). Reports tokens per second of
forward+backward, each time as a ratio to the DSN, parameter counts and peak memory. Writes
``<out>/bench_lm_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paraspike.bench.common import machine_info, write_json
from paraspike.bench.timing import time_layers_interleaved

__all__ = ["add_arguments", "main", "run_lm_benchmark"]

NEURONS = ("dsn", "dsn-binary", "lif", "sliding-psn", "masked-psn", "identity")


class _LossOf(nn.Module):
    """``model``'s next-token loss on fixed tokens, shaped like the timer's input (``[1]``), so the timer's
    ``out.backward(grad)`` is the language model's backward pass."""

    def __init__(self, model: nn.Module, tokens: Tensor) -> None:
        super().__init__()
        self.model, self.tokens = model, tokens

    def reset(self) -> None:
        from paraspike.neurons import reset_net

        reset_net(self.model)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.model(self.tokens[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), self.tokens[:, 1:].flatten())
        return loss.reshape(1) + 0.0 * x


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--neurons", nargs="+", default=list(NEURONS), help="registry neurons (default: all six)")
    parser.add_argument("--dim", type=int, default=128, help="channels (default 128)")
    parser.add_argument("--depth", type=int, default=4, help="blocks (default 4)")
    parser.add_argument("--context", type=int, default=512, help="training context in tokens (default 512)")
    parser.add_argument("--batch", type=int, default=16, help="windows per batch (default 16)")
    parser.add_argument("--vocab", type=int, default=256, help="vocabulary (default 256: bytes)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds at least (default 5)")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds of timing per model at most")
    parser.add_argument("--out", default="results", help="folder for the JSON and markdown (default results/)")


def run_lm_benchmark(args: argparse.Namespace) -> dict[str, object]:
    from paraspike.models import SpikingSSMLM

    device = torch.device(args.device)
    tokens = torch.randint(0, args.vocab, (args.batch, args.context + 1), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(device)
    counts: dict[str, dict[str, int]] = {}

    def build(neuron: str):  # noqa: ANN202
        def make() -> nn.Module:
            torch.manual_seed(0)
            options = {"lambda_init": 1.0} if neuron == "masked-psn" else {}
            model = SpikingSSMLM(args.vocab, args.dim, args.depth, neuron, options, steps=args.context).to(device)
            counts[neuron] = model.parameter_counts()
            return _LossOf(model, tokens)

        return make

    timed = time_layers_interleaved(
        {n: build(n) for n in args.neurons}, (1,), device, args.repeats, args.cap, seed=0, min_time_s=2.0
    )
    rows = []
    reference = timed.get("dsn", {}).get("total_s")
    for neuron in args.neurons:
        result = timed[neuron]
        if result["status"] != "ok":
            rows.append({"neuron": neuron, "status": result["status"]})
            continue
        total = float(result["total_s"])
        rows.append(
            {
                "neuron": neuron,
                "status": "ok",
                "forward_ms": 1e3 * float(result["forward_s"]),
                "backward_ms": 1e3 * float(result["backward_s"]),
                "tokens_per_second": args.batch * args.context / total,
                "time_vs_dsn": total / float(reference) if reference else None,
                "parameters": counts[neuron],
                "peak_mib": result["peak_mib"],
                "runs": result["runs"],
            }
        )
    settings = {k: getattr(args, k) for k in ("dim", "depth", "context", "batch", "vocab")}
    return {
        "settings": settings,
        "machine": machine_info(device),
        "command": _command_line(args),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": rows,
    }


def _command_line(args: argparse.Namespace) -> str:
    """The command that reruns this benchmark (with the thread count it ran with)."""
    options = [f"--{k} {getattr(args, k)}" for k in ("dim", "depth", "context", "batch", "vocab", "device", "repeats")]
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    return f"{threads}paraspike bench lm --neurons {' '.join(args.neurons)} {' '.join(options)} --out {args.out}"


def _markdown(report: dict[str, object]) -> str:
    s = report["settings"]
    lines = [
        f"Spiking SSM language model, {s['depth']} blocks x {s['dim']} channels, vocabulary {s['vocab']}, "
        f"batch {s['batch']} x context {s['context']} tokens; forward (to the loss) + backward, medians of "
        "rounds that run every model once (interleaved); peak memory of one forward+backward above the "
        "memory in use before it.",
        "",
        f"Command: `{report.get('command', 'paraspike bench lm')}`; date {report.get('date', '-')}; "
        f"{report['machine']['cpu']}, {report['machine']['threads']} thread(s), torch {report['machine']['torch']}.",  # type: ignore[index]
        "",
        "| neuron | forward ms | backward ms | tokens/s | time vs DSN | parameters (neurons) | peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:  # type: ignore[union-attr]
        if r["status"] != "ok":
            lines.append(f"| {r['neuron']} | {r['status']} | | | | | |")
            continue
        ratio = f"{r['time_vs_dsn']:.2f}x" if r["time_vs_dsn"] else "-"
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else "-"
        lines.append(
            f"| {r['neuron']} | {r['forward_ms']:.0f} | {r['backward_ms']:.0f} | {r['tokens_per_second']:,.0f} | "
            f"{ratio} | {r['parameters']['total']:,} ({r['parameters']['neurons']:,}) | {peak} |"
        )
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> None:
    report = run_lm_benchmark(args)
    table = _markdown(report)
    print(table)
    out = Path(args.out)
    device = torch.device(args.device).type
    write_json(out / f"bench_lm_{device}.json", report)
    (out / f"bench_lm_{device}.md").write_text(table)
    print(f"wrote {out / f'bench_lm_{device}.json'} and .md")
