"""What a fresh output buffer costs on first write, by page layout: the measurement behind the CPU
kernel's huge-page-aligned outputs (``empty_stream`` in ``kernels/csrc/common.h``).

Large freed blocks go back to the kernel (glibc's defaults), so a layer's outputs on the next call may
be fresh anonymous memory: each page faults on its first write and the kernel zeroes it. For a buffer
of ``size`` MiB taken fresh from the kernel (``mmap``) each round, this times one ``fill_`` of it in
three layouts:

- ``4 KiB pages``: as it comes (one fault per 4 KiB page);
- ``huge pages, unaligned``: ``madvise(MADV_HUGEPAGE)`` on the 2 MiB pages wholly inside a buffer that
  starts where an allocator put it (here: 64 bytes past a page boundary);
- ``huge pages, aligned``: the buffer starts on a 2 MiB boundary and is advised whole.

Run: ``python -m paraspike.bench.fresh_memory --out results``; prints a table and writes
``<out>/fresh_memory_cpu.json``. Linux only (transparent huge pages); elsewhere it says so and stops.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import mmap
import statistics
import sys
import time
from pathlib import Path

import torch

from paraspike.bench.common import machine_info
from paraspike.bench.timing import minor_page_faults

__all__ = ["HUGE_PAGE", "LAYOUTS", "time_fresh_fill", "main"]

HUGE_PAGE = 2 << 20
LAYOUTS = ("4 KiB pages", "huge pages, unaligned", "huge pages, aligned")


def _address(buffer: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def time_fresh_fill(mebibytes: int, layout: str, rounds: int = 7) -> dict[str, float]:
    """Seconds of filling a fresh ``mebibytes`` buffer once, in ``layout``: the median of the rounds
    after the first, and the first alone (the kernel may first have to compact memory to find free
    2 MiB pages; later rounds get the pages the earlier ones freed), and the mean page faults."""
    nbytes = mebibytes << 20
    seconds: list[float] = []
    faults: list[int] = []
    for _ in range(rounds):
        mapping = mmap.mmap(-1, nbytes + 2 * HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        base = _address(mapping)
        start = (-base) % HUGE_PAGE + (64 if layout == "huge pages, unaligned" else 0)
        if layout != "4 KiB pages":  # the whole 2 MiB pages inside [base + start, base + start + nbytes)
            first = (base + start + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE - base
            last = (base + start + nbytes) // HUGE_PAGE * HUGE_PAGE - base
            if last > first:
                mapping.madvise(mmap.MADV_HUGEPAGE, first, last - first)
        view = torch.frombuffer(mapping, dtype=torch.uint8, count=nbytes, offset=start)
        before = minor_page_faults()
        began = time.perf_counter()
        view.fill_(1)
        seconds.append(time.perf_counter() - began)
        faults.append(minor_page_faults() - before)
        del view
        mapping.close()
    return {
        "seconds": statistics.median(seconds[1:] or seconds),
        "first_seconds": seconds[0],
        "page_faults": statistics.mean(faults),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 64], help="buffer sizes in MiB")
    parser.add_argument("--rounds", type=int, default=7, help="fresh buffers per size and layout")
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder for fresh_memory_cpu.json")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_HUGEPAGE"):
        print("fresh_memory: needs Linux with transparent huge pages (mmap.MADV_HUGEPAGE); nothing measured")
        return 1
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    rows = []
    print(f"{'MiB':>5}  {'layout':<22} {'fill (ms)':>10} {'first (ms)':>11} {'page faults':>12}")
    for size in args.sizes:
        for layout in LAYOUTS:
            measured = time_fresh_fill(size, layout, args.rounds)
            rows.append({"mebibytes": size, "layout": layout, **measured})
            print(
                f"{size:>5}  {layout:<22} {measured['seconds'] * 1e3:>10.3f} {measured['first_seconds'] * 1e3:>11.3f}"
                f" {measured['page_faults']:>12.0f}"
            )
    result = {
        "benchmark": "first write to a fresh buffer, by page layout",
        "command": "python -m paraspike.bench.fresh_memory " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(torch.device("cpu")),
        "transparent_hugepage": thp.read_text().strip() if thp.exists() else "unknown",
        "rounds": args.rounds,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fresh_memory_cpu.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
