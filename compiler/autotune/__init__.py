"""Autotuning: candidate configs as data, timing on the real arguments, and a persistent cache."""
