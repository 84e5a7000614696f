"""Fusion planning: which kernels compute which reductions, what each stores, what torch runs."""
