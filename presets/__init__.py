"""The presets shipped with glasslab: short, commented TOML files (read by glasslab.core.config.presets)."""
