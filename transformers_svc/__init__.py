"""Serving: the local Triton runtime and the KServe transformer services in front of it."""
