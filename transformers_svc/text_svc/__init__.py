"""Text models behind Triton: revision text -> tokens -> Triton classifier -> Lift Wing format."""
