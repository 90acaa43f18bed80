"""Python-based stand-ins for Triton's native `onnxruntime` and `pytorch` backends."""
