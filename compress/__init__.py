"""Compression of a trained multi-task model: pruning, ONNX export, quantization, TensorRT, runtimes.

Pruning and TensorRT are still to come; ONNX export, quantization, runtimes and the bundle are here.
"""
