"""Stage 2, system: what is trained.  The data set held on the device, the network and its per-sample
loss (together the landscape), and the update rule (GD, SGD, Langevin) with the state it carries.

The stages and their order: docs/architecture.md.
"""
