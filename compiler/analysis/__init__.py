"""Graph -> Info analyses: axes and score spaces, index functions and dead regions, reductions."""
