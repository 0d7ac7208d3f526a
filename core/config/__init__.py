"""Stage 1, config: what an experiment is.  Presets (TOML validated into one frozen dataclass tree),
the log-spaced snapshot grid, and how many CPU threads a run may use.

The stages and their order: docs/architecture.md.
"""
