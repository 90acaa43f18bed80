"""Hugging Face transformers -> ONNX (fp32/int8) or TorchScript, verified against PyTorch."""
