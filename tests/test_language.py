"""Language modelling (issue 12): S4D, the spiking SSM language model in every reading (whole, chunked,
token by token), streaming in constant memory, generation, text data and a training run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from paraspike.data.text import ByteTokenizer, WordTokenizer, load_text, make_text_splits
from paraspike.models import S4D, SpikingSSMLM
from paraspike.models.lm_stream import generate, iter_file_bytes, segment_nll, stream_nll
from paraspike.neurons import reset_net
from paraspike.nn import set_step_mode

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NEURONS = ["dsn", "dsn-binary", "lif", "sliding-psn", "masked-psn", "identity"]


def _options(neuron: str) -> dict:
    return {"lambda_init": 1.0} if neuron == "masked-psn" else {}  # fully masked: runs on any length


def _lm(neuron: str, vocab: int = 20, steps: int = 8) -> SpikingSSMLM:
    torch.manual_seed(0)
    return SpikingSSMLM(vocab, 16, 2, neuron, _options(neuron), steps=steps, d_state=8).double().eval()


def test_s4d_convolution_kernel_recurrence_and_chunks_agree():
    torch.manual_seed(0)
    layer = S4D(6, 8).double()
    u = torch.randn(50, 3, 6, dtype=torch.float64)
    whole = layer(u)
    layer.reset()
    kernel = layer.kernel(50)
    direct = torch.stack([sum(kernel[:, j] * u[t - j] for j in range(t + 1)) + layer.d * u[t] for t in range(50)])
    torch.testing.assert_close(whole, direct)  # the FFT convolution is the causal convolution with K
    set_step_mode(layer, "s")
    stepped = torch.stack([layer(x) for x in u])
    layer.reset()
    torch.testing.assert_close(stepped, whole)  # the diagonal recurrence gives the same outputs
    set_step_mode(layer, "m")
    chunked = torch.cat([layer(u[:7]), layer(u[7:8]), layer(u[8:31]), layer(u[31:])])
    torch.testing.assert_close(chunked, whole)
    with pytest.raises(ValueError, match=r"\[L, B, H\] with H=6"):
        layer(torch.randn(5, 3, 4))
    with pytest.raises(ValueError, match="even number"):
        S4D(4, 7)


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("length", [5, 8, 37])  # steps=8 is the "training" context: 37 was never seen
def test_lm_logits_are_the_same_whole_chunked_and_token_by_token(neuron, length):
    model = _lm(neuron)
    tokens = torch.randint(0, 20, (3, length), generator=torch.Generator().manual_seed(length))
    reset_net(model)
    whole = model(tokens)
    assert whole.shape == (3, length, 20)
    cuts = [0, 1, min(3, length), min(length, 11), length]
    reset_net(model)
    chunked = torch.cat([model(tokens[:, a:b]) for a, b in zip(cuts, cuts[1:], strict=False) if b > a], dim=1)
    reset_net(model)
    set_step_mode(model, "s")
    stepped = torch.stack([model(t) for t in tokens.t()], dim=1)
    set_step_mode(model, "m")
    reset_net(model)
    torch.testing.assert_close(chunked, whole, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(stepped, whole, rtol=1e-9, atol=1e-9)


def test_lm_rejects_bad_tokens_and_counts_parameters_by_part():
    model = _lm("dsn")
    with pytest.raises(ValueError, match=r"integer tokens \[B, L\]"):
        model(torch.randn(2, 5))
    counts = model.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["neurons"] > 0 and counts["total"] == counts["neurons"] + counts["ssm"] + counts["other"]
    assert _lm("lif").parameter_counts()["neurons"] == 0


def test_stream_and_segment_readings_match_whole_calls():
    model = _lm("dsn")
    text = torch.randint(0, 20, (101,), generator=torch.Generator().manual_seed(1))
    reset_net(model)
    logits = model(text[:-1].unsqueeze(0))[0]
    expected = float(F.cross_entropy(logits, text[1:], reduction="sum").detach())
    streamed = stream_nll(model, text, chunk=7)
    assert streamed.predicted == 100 and streamed.nll == pytest.approx(expected, rel=1e-9)
    pieces = iter([text[:13], text[13:14], text[14:60], text[60:]])
    assert stream_nll(model, pieces, chunk=9).nll == pytest.approx(expected, rel=1e-9)  # any iterable of chunks
    # fresh state per segment of 25: four segments, each its own whole call
    manual = 0.0
    for i in range(4):
        reset_net(model)
        segment = text[i * 25 : i * 25 + 26]
        manual += float(F.cross_entropy(model(segment[:-1].unsqueeze(0))[0], segment[1:], reduction="sum").detach())
    result = segment_nll(model, text, 25, chunk=10, batch=3)
    assert result.predicted == 100 and result.nll == pytest.approx(manual, rel=1e-9)
    assert result.bits_per_token == pytest.approx(result.loss / math.log(2))


def test_greedy_generation_follows_the_parallel_model():
    model = _lm("dsn")
    prompt = torch.tensor([3, 1, 4, 1, 5])
    generated = generate(model, prompt, 6, temperature=0.0, chunk=2)
    sequence = prompt.clone()
    for _ in range(6):
        reset_net(model)
        next_token = model(sequence.unsqueeze(0))[0, -1].argmax()
        sequence = torch.cat([sequence, next_token.view(1)])
    assert torch.equal(generated, sequence[5:])
    sampled = generate(model, prompt, 8, temperature=1.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (8,) and model.step_mode == "m"


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from paraspike.models import SpikingSSMLM
    from paraspike.bench.timing import PeakMemory
    from paraspike.models.lm_stream import stream_nll
    torch.set_num_threads(1)
    model = SpikingSSMLM(256, 32, 2, "dsn", steps=64, d_state=16).eval()
    def pieces(total, size=4096):
        generator = torch.Generator().manual_seed(0)
        for start in range(0, total, size):
            yield torch.randint(0, 256, (min(size, total - start),), generator=generator, dtype=torch.uint8)
    stream_nll(model, pieces(20_000), chunk=1024)  # warm up: allocator pools, kernels built
    with PeakMemory(torch.device("cpu")) as peak:
        result = stream_nll(model, pieces(int(sys.argv[1])), chunk=1024)
    print(result.tokens, peak.mib)
    """
)


def test_streaming_memory_does_not_grow_with_the_length():
    peaks = {}
    for tokens in (20_000, 400_000):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(tokens)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert int(out[0]) == tokens
        peaks[tokens] = float(out[1])
    # 20x more text, the same peak above the start of the pass (holding the text or its logits would add
    # 3-400 MiB): less than 8 MiB apart
    assert abs(peaks[400_000] - peaks[20_000]) < 8 and peaks[400_000] < 64, peaks


def test_file_bytes_are_read_in_pieces(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(bytes(range(256)) * 3)
    pieces = list(iter_file_bytes(path, piece=100, limit=700))
    assert [p.numel() for p in pieces] == [100] * 7
    assert torch.equal(torch.cat(pieces), torch.tensor(list(range(256)) * 3, dtype=torch.uint8)[:700])


def test_tokenizers_round_trip():
    text = "In the beginning God created\nthe heaven and the earth.\n"
    assert ByteTokenizer().decode(ByteTokenizer().encode(text)) == text
    words = WordTokenizer("a b c\nb c\n")
    ids = words.encode("a c d\n")
    assert torch.equal(words.encode_prompt("a c d"), ids[:-1])
    assert ids.tolist() == [words.index["a"], words.index["c"], words.index["<unk>"], words.index["<eos>"]]
    assert words.decode(ids) == "a c <unk>\n"


def test_missing_texts_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install bible-kjv"):
        load_text("kjv", tmp_path)
    (tmp_path / "kjv.txt").write_text("Ge1:1 In the beginning\n")
    assert load_text("kjv", tmp_path)[0] == ["Ge1:1 In the beginning\n"]  # a saved copy needs no program
    with pytest.raises(FileNotFoundError, match="valid.txt and test.txt"):
        load_text("wikitext-2", tmp_path)
    (tmp_path / "valid.txt").write_text("a\n")
    (tmp_path / "test.txt").write_text("b\n")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  valid.txt\n")
    with pytest.raises(ValueError, match="differs from SHA256SUMS"):
        load_text("wikitext-2", tmp_path)
    with pytest.raises(ValueError, match="unknown text"):
        load_text("wikitext-103", tmp_path)


def test_wikitext2_trains_on_validation_and_tests_on_test():
    folder = SHARED / "wikitext-2"
    if not (folder / "valid.txt").is_file():
        pytest.skip(f"{folder} not found (the project's data folder)")
    splits = make_text_splits("wikitext-2", folder, "words", val_fraction=0.1)
    assert splits.train.numel() + splits.val.numel() == 217_646  # the published validation token count
    assert splits.test.numel() == 245_569  # the published test token count
    assert "validation split" in splits.note


def _training_config(tmp_path: Path, *extra: str) -> dict:
    from paraspike.train import load_config

    verse = "And God said, Let there be light: and there was light.\n"
    (tmp_path / "text").mkdir(exist_ok=True)
    (tmp_path / "text" / "kjv.txt").write_text(verse * 400)
    return load_config(
        None,
        [
            "task=language",
            "name=lm",
            f"out={tmp_path / 'runs'}",
            "data.dataset=kjv",
            f"data.dir={tmp_path / 'text'}",
            "data.context=64",
            "data.train_windows=256",
            "data.batch_size=16",
            "data.split=[0.8, 0.1, 0.1]",
            "data.eval_lengths=[16, 64, 256]",
            "data.eval_tokens=1024",
            "data.eval_chunk=100",
            "data.sample_prompt=And God",
            "data.sample_tokens=30",
            "model.name=spiking-ssm-lm",
            "model.options={dim: 32, depth: 2, d_state: 16}",
            "optim.lr=1e-2",
            "optim.weight_decay=0.1",
            "trainer.max_epochs=3",
            "trainer.enable_progress_bar=false",
            *extra,
        ],
    )


def test_a_language_model_run_learns_a_repeated_verse_and_records_the_study(tmp_path):
    pytest.importorskip("lightning")
    from paraspike.tasks.language import build
    from paraspike.train import train

    config = _training_config(tmp_path)
    module, _ = build(config)
    groups = module.parameter_groups()
    ssm = {id(p) for b in module.model.blocks for p in (b.ssm.log_dt, b.ssm.log_a_real, b.ssm.a_imag, b.ssm.c)}
    for group in groups:
        if any(id(p) in ssm for p in group["params"]):
            assert group["lr"] == 1e-3 and group["weight_decay"] == 0.0  # SpikingSSM's SSM recipe
    metrics = train(config)
    saved = json.loads((Path(metrics["run_folder"]) / "metrics.json").read_text())
    assert saved["task"] == "language" and saved["test_bits"] < 2.0  # 8 bits per byte untrained
    study = saved["extrapolation"]
    assert set(study["fresh"]) == {"16", "64", "256"} and study["tokens"] == 1024
    assert study["fresh"]["256"]["bits"] < study["fresh"]["16"]["bits"]  # longer context helps on a repeated verse
    assert study["stream"]["tokens"] == 1024
    assert saved["sample"]["greedy"].startswith(" said, Let there be light")
    assert saved["parameter_counts"]["total"] == saved["parameters"]


def test_random_windows_are_seeded_per_epoch_and_sharded():
    from paraspike.tasks.language import RandomOffsetSampler, TextWindows

    windows = TextWindows(torch.arange(1000), 10)
    a, b = RandomOffsetSampler(windows, 8, seed=1), RandomOffsetSampler(windows, 8, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    x, y = windows[next(iter(a))]
    assert torch.equal(y[:-1], x[1:]) and x.numel() == 10
    shards = [list(RandomOffsetSampler(windows, 8, seed=1, rank=r, world=2)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(a)
    with pytest.raises(ValueError, match="shorter than data.context"):
        TextWindows(torch.arange(5), 10)


def test_language_report_tables_and_extrapolation_plot(tmp_path, isolated_results):
    pytest.importorskip("matplotlib")
    from paraspike.train import experiments, load_config, report

    runs = {r.variant: r for r in experiments.EXPERIMENTS["lm-kjv"]}
    config = load_config(runs["dsn"].config, list(runs["dsn"].overrides))
    data = {"source": "bible", "split": "contiguous", "vocab": 256, "train_tokens": 9, "val_tokens": 1}
    data |= {"test_tokens": 1, "tokens": "bytes", "context": 512}
    for variant, seed, shift in (("dsn", 0, 0.0), ("dsn", 1, 0.2), ("lif", 0, 1.0)):
        fresh = {str(n): {"bits": 2.0 + shift - n / 10_000} for n in (128, 16384)}
        metrics = {"seed": seed, "task": "language", "test_bits": 2.0 + shift, "test_perplexity": 4.0 + shift}
        metrics |= {"epochs": 12, "epoch_seconds": [100.0], "firing_rate_overall": 0.1, "firing_rate_binary": {}}
        metrics |= {"parameters": 10, "parameter_counts": {"total": 10, "neurons": 2}, "data": data, "config": config}
        metrics |= {"extrapolation": {"tokens": 131072, "fresh": fresh, "stream": {"bits": 1.5 + shift}}}
        metrics |= {"sample": {"prompt": "Ge1:1", "greedy": " In the\nbeginning"}}
        path = tmp_path / "results" / runs[variant].name / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics))
    target = tmp_path / "results.md"
    report.write_report(target)
    text = target.read_text()
    assert "| lm-kjv-dsn | 2.087 +- 0.141 | 0.462 +- 0.141 | 1.600 +- 0.141 |" in text
    assert "| lm-kjv-lif | 2.987 | 1.362 | 2.500 |" in text
    assert "| 0,1 | 2.100 +- 0.141 | 4.10 +- 0.14 | 10 (2) | 10,240 | 0.100 |" in text  # 2000 x 512 tokens / 100 s
    assert "- lm-kjv-dsn: `Ge1:1 In the / beginning`" in text
    assert (tmp_path / "results" / "lm-kjv.png").is_file()


def test_language_report_gives_each_config_of_a_group_its_own_budget_and_speed(tmp_path, isolated_results):
    """WikiText-2 bytes and words share a group; tokens/s must use each config's windows and context."""
    pytest.importorskip("matplotlib")
    from paraspike.train import experiments, load_config, report

    data = {"source": "wikitext-2", "split": "valid/test", "vocab": 256, "train_tokens": 9, "val_tokens": 1}
    data |= {"test_tokens": 1}
    for run in experiments.EXPERIMENTS["lm-wikitext2"]:
        config = load_config(run.config, list(run.overrides))
        metrics = {"seed": 0, "task": "language", "test_bits": 2.0, "test_perplexity": 4.0, "epochs": 12}
        metrics |= {"epoch_seconds": [100.0], "firing_rate_overall": 0.1, "firing_rate_binary": {}}
        metrics |= {"parameters": 10, "parameter_counts": {"total": 10, "neurons": 2}, "data": data, "config": config}
        path = tmp_path / "results" / run.name / "seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics))
    target = tmp_path / "results.md"
    report.write_report(target)
    text = target.read_text()
    chars, words = (
        text.index("### `configs/lm_wikitext2_chars.yaml`"),
        text.index("### `configs/lm_wikitext2_words.yaml`"),
    )
    assert "| 10 (2) | 10,240 |" in text[chars:words]  # 2000 windows x 512 bytes / 100 s
    assert "| 10 (2) | 2,560 |" in text[words:]  # 1000 windows x 256 words / 100 s
    assert "context 256" in text[words:] and "context 256" not in text[chars:words]


_REUSE_SCRIPT = textwrap.dedent(
    """
    import torch, torch.nn.functional as F
    from paraspike.bench.timing import PeakMemory
    from paraspike.models import SpikingSSMLM
    torch.set_num_threads(1)
    tokens = torch.randint(0, 256, (4, 257), generator=torch.Generator().manual_seed(0))
    def peak_of(neuron):
        torch.manual_seed(0)
        model = SpikingSSMLM(256, 64, 2, neuron, steps=256)
        with PeakMemory(torch.device("cpu")) as peak:
            F.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten()).backward()
        return peak.mib
    print(*(peak_of(n) for n in ("identity", "identity", "dsn")))
    """
)


def test_peak_memory_counts_a_model_measured_after_another():
    """bench lm measures its models one after another in one process: a later model reusing pages the
    allocator kept from an earlier one must still count them (it read a third of its peak before)."""
    out = subprocess.run([sys.executable, "-c", _REUSE_SCRIPT], capture_output=True, text=True, check=True)
    first, again, dsn = (float(v) for v in out.stdout.split())
    assert again > 0.6 * first and dsn > 0.6 * first, (first, again, dsn)
