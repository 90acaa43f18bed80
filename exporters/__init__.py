"""Trained models -> a standard Triton model repository, verified for parity."""
