"""Capture: a PyTorch program to the IR, through torch.export at the ATen level."""
