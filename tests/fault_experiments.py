"""Campaigns for the fault tests (a plug-in: tests/conftest.py)."""

from jobs.experiments import Experiment, Part

FAULTS = {
    e.name: e
    for e in (
        # one task per model; every task busy for a while, so faults land mid-run
        Experiment("busy", "six tasks of slow cases", (Part("kernel", ("attn", "h2o", "roco", "kf", "snapkv", "corm"),
                                                            ("torch", "fake-slow")),), default_scale="tiny"),
        Experiment("classes", "a case that raises, one that hangs, and fine ones",
                   (Part("kernel", ("attn",), ("torch", "fake-raises", "fake-hangs")),), default_scale="tiny"),
        Experiment("quick", "two quick cases", (Part("kernel", ("attn", "h2o"), ("torch",)),), default_scale="tiny"),
        Experiment("pool", "six chunks of two probed cases each, for the local GPU pool",
                   (Part("kernel", ("attn", "h2o", "roco", "kf", "snapkv", "corm"), ("fake-probe",), (1024, 2048)),),
                   default_scale="tiny"),
    )
}

EXPERIMENTS = list(FAULTS.values())
