"""The local Triton Inference Server: launcher and the Python-based backends it loads."""
