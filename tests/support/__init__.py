"""Helpers the tests share: small presets, synthetic stores, data files, a real Slurm cluster."""
