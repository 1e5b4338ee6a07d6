import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))


def _import_triton_for_its_interpreter() -> None:
    """Without a GPU the Triton kernels are tested in Triton's interpreter, which must be selected
    when Triton is imported (its own tl.sum etc. are decorated then), and other packages (Lightning)
    import Triton early. Import it here under TRITON_INTERPRET=1, then restore the variable so that
    the rest of the suite does not see the slow interpreted backend as available."""
    import importlib.util
    import os

    if torch.cuda.is_available() or importlib.util.find_spec("triton") is None or "triton" in sys.modules:
        return
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton.language  # noqa: F401
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved


_import_triton_for_its_interpreter()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_committed_approximation_results(monkeypatch, tmp_path) -> None:
    """Report tests write into tmp_path: keep write_report away from results/approximation."""
    from paraspike.train import report

    monkeypatch.setattr(report, "APPROXIMATION", tmp_path / "no-approximation")


@pytest.fixture
def isolated_results(monkeypatch, tmp_path):
    """The experiment grid's results folder moved to ``tmp_path / "results"`` (both the runner's and the
    report's view of it); returns that folder."""
    from paraspike.train import experiments, report

    folder = tmp_path / "results"
    monkeypatch.setattr(experiments, "RESULTS", folder)
    monkeypatch.setattr(report, "RESULTS", folder)
    return folder
