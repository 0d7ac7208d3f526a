"""Stage 5, train: the run.  One readable training loop that yields records (core/records.py), and the
device-to-host copies its snapshots travel in.

The stages and their order: docs/architecture.md.
"""
