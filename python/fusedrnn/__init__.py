"""fusedrnn: fused CPU kernels for recurrent layers, NumPy in and out."""
