"""Stage 7, analysis: read-only on stores.  The aging collapse fit of mu, the verdict, and the report
that `glasslab analyze` prints.

The stages and their order: docs/architecture.md.
"""
