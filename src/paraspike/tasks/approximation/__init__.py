"""The approximation study (issue 16): can a reset-free DSN reproduce the spike trains of LIF neurons
with reset?

- :mod:`.targets`: input currents (Gaussian noise, structured signals) and the six LIF targets (hard /
  soft reset x three membrane time constants) run by the project's own :class:`~paraspike.neurons.LIF`.
- :mod:`.fit`: one neuron (DSN binary or integer, sliding PSN, PSN, reset-free LIF, parametric LIF with
  the target's reset) behind a learned input gain and offset, trained to reproduce the target's spikes;
  the spike-train measures (accuracy, F1, van Rossum distance).
- :mod:`.study`: the grid over targets x inputs x models x seeds and the ablation over the window k,
  driven by a YAML config (``paraspike approx --config configs/approximation.yaml``), writing JSON and
  figures under ``results/approximation``.
"""

from paraspike.tasks.approximation.fit import FitResult, fit_neuron, spike_train_metrics
from paraspike.tasks.approximation.targets import INPUT_KINDS, LifTarget, make_inputs, run_target

__all__ = ["INPUT_KINDS", "FitResult", "LifTarget", "fit_neuron", "make_inputs", "run_target", "spike_train_metrics"]
