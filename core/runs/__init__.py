"""Stage 6, runs: runs as processes.  The headless composition every run without the console uses,
detached starts, the control channel (stop, switch), which runs are live, following a store,
resuming one, and the preset catalog the UIs list.

The stages and their order: docs/architecture.md.
"""
