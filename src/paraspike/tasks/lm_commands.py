"""``paraspike lm stream`` and ``paraspike lm generate``: a trained language model (a run folder of
``paraspike train`` with ``task: language``) over a long text in constant memory, and text from a prompt.

``stream`` reads the first ``n`` tokens of a text for each ``n`` of ``--lengths`` in one pass with the
state carried (chunks of ``--chunk`` tokens) and reports bits per token, tokens per second and the
process's peak resident memory during the pass above what it held when the pass started; it writes JSON. The text
is the run's whole text (``--text run``: for the King James Bible 4.4 M characters, training part
included, so the bits are not a held-out score), its test part (``--text test``) or a file (bytes).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import torch
import yaml

__all__ = ["load_language_run", "add_arguments", "stream_main", "generate_main"]


def load_language_run(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, data, config)`` of a language-model run folder, with the weights of its
    ``checkpoints/best.ckpt`` (else ``last.ckpt``), in eval mode."""
    from paraspike.train.load import load_run

    folder = Path(folder)
    if not (folder / "config.yaml").is_file():
        raise FileNotFoundError(f"{folder} is not a run folder (no config.yaml); pass runs/<name>/seed<k>")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    if config.get("task") != "language":
        raise ValueError(f"{folder} holds a {config.get('task')!r} run, not a language model")
    module, data, config, _ = load_run(folder)
    return module.model.eval(), data, config


def add_arguments(stream: argparse.ArgumentParser, generate: argparse.ArgumentParser) -> None:
    stream.add_argument("folder", metavar="RUN", help="a language-model run folder (runs/<name>/seed<k>)")
    stream.add_argument(
        "--text", default="run", help="'run' (the run's whole text), 'test' (its test part) or a file (bytes)"
    )
    stream.add_argument(
        "--lengths", type=float, nargs="+", default=[1e4, 1e5, 1e6], help="tokens per pass (default 1e4 1e5 1e6)"
    )
    stream.add_argument("--chunk", type=int, default=2048, help="tokens per call (default 2048)")
    stream.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    stream.add_argument("--out", default=None, help="write the JSON here (default: print only)")
    generate.add_argument("folder", metavar="RUN", help="a language-model run folder (runs/<name>/seed<k>)")
    generate.add_argument("--prompt", required=True, help="the text to continue")
    generate.add_argument("--tokens", type=int, default=300, help="tokens to generate (default 300)")
    generate.add_argument("--temperature", type=float, default=0.8, help="0: always the most likely token")
    generate.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens")
    generate.add_argument("--seed", type=int, default=0, help="sampling seed")


def _text(choice: str, data: Any) -> torch.Tensor:
    if choice == "run":
        splits = data.splits
        return torch.cat([splits.train, splits.val, splits.test])
    if choice == "test":
        return data.splits.test
    path = Path(choice)
    if not path.is_file():
        raise FileNotFoundError(f"--text {choice}: no such file (or use 'run' / 'test')")
    if data.config["data"]["tokens"] != "bytes":
        return data.splits.tokenizer.encode(path.read_text(encoding="utf-8"))
    return torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)


def stream_main(args: argparse.Namespace) -> None:
    from paraspike.bench.timing import PeakMemory
    from paraspike.models.lm_stream import stream_nll

    if args.threads:
        torch.set_num_threads(args.threads)
    model, data, config = load_language_run(args.folder)
    text = _text(args.text, data)
    stream_nll(model, text[: 4 * args.chunk], args.chunk)  # warm up (kernels, allocator)
    rows = []
    for length in (int(n) for n in args.lengths):
        if length + 1 > text.numel():
            raise ValueError(f"--lengths {length}: the text has only {text.numel()} tokens")
        with PeakMemory(torch.device("cpu")) as peak:
            result = stream_nll(model, text[: length + 1], args.chunk)
        rows.append(
            {
                "tokens": length,
                "bits_per_token": result.bits_per_token,
                "tokens_per_second": result.predicted / result.seconds,
                "seconds": result.seconds,
                "peak_above_start_mib": peak.mib,
                "resident_at_start_mib": peak.base_mib,
            }
        )
        print(
            f"{length:>9,} tokens  {result.bits_per_token:.4f} bits/token  {rows[-1]['tokens_per_second']:,.0f} "
            f"tokens/s  peak memory {peak.mib:.1f} MiB above the {peak.base_mib:.0f} MiB held at the start",
            flush=True,
        )
    report = {
        "run": str(args.folder),
        "text": args.text,
        "chunk": args.chunk,
        "model": config["model"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "rows": rows,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


def generate_main(args: argparse.Namespace) -> None:
    from paraspike.models.lm_stream import generate

    model, data, _ = load_language_run(args.folder)
    tokenizer = data.splits.tokenizer
    prompt = tokenizer.encode_prompt(args.prompt).long()
    generator = torch.Generator().manual_seed(args.seed)
    tokens = generate(model, prompt, args.tokens, args.temperature, args.top_k, generator)
    separator = " " if data.config["data"]["tokens"] == "words" else ""
    print(args.prompt + separator + tokenizer.decode(tokens))
