"""Triton code generation: one kernel source per planned kernel, in the Triton tutorials' style."""
