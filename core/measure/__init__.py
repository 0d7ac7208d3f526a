"""Stage 3, measure: the observables, as pure functions over tensors.  Delta, Q, alpha_2 and Y between
snapshots (and their two-time matrices), the noise strength D and D_B, the full-set loss and
accuracy, and the recorder that measures them during a run.

The stages and their order: docs/architecture.md.
"""
