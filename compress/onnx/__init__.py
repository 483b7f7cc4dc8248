"""ONNX export, graph optimization and quantization presets for multi-task models."""
