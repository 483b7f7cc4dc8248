"""Compression of a trained multi-task model: pruning, ONNX export, quantization, TensorRT, runtimes.

Nothing here yet: the pruning, quantization and runtime issues fill this package.
"""
