"""Deployment export: :func:`to_onnx` writes one step of a network with every neuron's state as
explicit graph inputs and outputs (see :mod:`paraspike.export.onnx`)."""

from paraspike.export.onnx import DEFAULT_OPSET, OnnxExport, run_onnx_sequence, serial_reference, to_onnx

__all__ = ["DEFAULT_OPSET", "OnnxExport", "run_onnx_sequence", "serial_reference", "to_onnx"]
