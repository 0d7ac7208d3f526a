"""Stage 4, store: the Zarr v3 run store, and everything that writes one.  The layout (the format
contract), the reader, the writer sink, the record <-> store codec, the resume state, the
end-of-run two-time completion, the one-writer lock and the store's paths.

The stages and their order: docs/architecture.md.
"""
