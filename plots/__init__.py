"""Figures. They read tidy rows (from the index or the paper's numbers) and never run GPU code."""
