"""Exporting fitted meta-models as self-describing ONNX files (workstation side)."""

from .onnx_export import DEFAULT_TOLERANCE, ExportResult, ParityError, export_onnx, metadata, parity

__all__ = ["DEFAULT_TOLERANCE", "ExportResult", "ParityError", "export_onnx", "metadata", "parity"]
