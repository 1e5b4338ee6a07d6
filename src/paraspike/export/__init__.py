"""Deployment export.

- :func:`to_onnx`: one step of a network with every neuron's state as explicit graph inputs and outputs
  (:mod:`paraspike.export.onnx`), checked with onnxruntime.
- :func:`to_nir`: NIR graphs of the LIF/IF baselines with linear, conv and pooling layers, and
  :func:`run_nir`, a forward-Euler simulator of the result (:mod:`paraspike.export.nir_graph`); the DSN
  is refused with the reason.
"""

from paraspike.export.nir_graph import run_nir, to_nir
from paraspike.export.onnx import DEFAULT_OPSET, OnnxExport, run_onnx_sequence, serial_reference, to_onnx

__all__ = ["DEFAULT_OPSET", "OnnxExport", "run_nir", "run_onnx_sequence", "serial_reference", "to_nir", "to_onnx"]
