"""Sliding windows: the passes visit only the tiles a window can see.

A key j is visible to query i (shifted by Lk - Lq, as decoding aligns them) when i - w < j <= i. The row
pass starts its key loop at the first tile that holds a visible key and ends it after the diagonal; the
column pass visits only the query tiles whose window reaches its keys. Attention sinks beside the window
(keys j < sinks seen by every later query) add only their own tiles. The loop bounds are read from the
emitted Triton source and evaluated for every program, so the test checks the code that runs."""

import re
import warnings
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from case_runner import assert_close
from variants import reference

import compiler
from compiler.pipeline import Compilation, run_pipeline

WINDOW = 9
L_Q, L_K = 70, 100


def _positions(q, k):
    i = torch.arange(q.shape[-2], device=q.device)[:, None] + (k.shape[-2] - q.shape[-2])
    j = torch.arange(k.shape[-2], device=q.device)[None, :]
    return i, j


def _and(i, j):  # Mistral's spelling
    return (j <= i) & (j > i - WINDOW)


def _abs(i, j):  # a distance, with causality beside it
    return ((i - j).abs() < WINDOW) & (i >= j)


def _clamp(i, j):  # the window's first key, clamped at the sequence start
    return (j >= (i - WINDOW + 1).clamp(min=0)) & (j <= i)


def _tensor(i, j):  # the window as a tensor the program makes (export lifts it as a constant)
    w = torch.tensor(WINDOW)
    return (j <= i) & (j > i - w)


def _band(i, j):  # tril and triu of ones, as mask utilities build it
    ones = torch.ones(i.shape[0], j.shape[1], dtype=torch.bool, device=i.device)
    return ones.tril(j.shape[1] - i.shape[0]).triu(j.shape[1] - i.shape[0] - WINDOW + 1)


class Windowed(torch.nn.Module):
    """Causal sliding-window attention, plus each key's attention mass (H2O's votes): a row and a column pass."""

    def __init__(self, visible):
        super().__init__()
        self.visible = visible

    def forward(self, q, k, v):
        s = (q @ k.transpose(-1, -2)).float() / 4
        s = s.masked_fill(~self.visible(*_positions(q, k)), float("-inf"))
        p = torch.softmax(s, -1)
        return p.to(q.dtype) @ v, p.sum(-2)


SPELLINGS = {"and": _and, "abs": _abs, "clamp": _clamp, "band": _band, "tensor": _tensor}


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 2, L_Q, 16, generator=g).half()
    k, v = (torch.randn(1, 2, L_K, 16, generator=g).half() for _ in range(2))
    return q, k, v


_TL = SimpleNamespace(minimum=min, maximum=max, cdiv=lambda a, b: -(-a // b))
_BOUND = re.compile(r"^\s*((?:r_end|r_full|[se]_\d+) = .*)$", re.M)
_LOOP = re.compile(r"^\s*for r0 in (?:tl\.)?range\((.*), BLOCK_N(?:, [^)]*)?\):$", re.M)


def _visited(source: str, p0: int, block_m: int, block_n: int) -> list[int]:
    """The tile starts r0 the program owning tile p0 visits, in loop order, by running the emitted bounds."""
    env = {"tl": _TL, "p0": p0, "BLOCK_M": block_m, "BLOCK_N": block_n}
    for line in _BOUND.findall(source):
        exec(line, env)  # noqa: S102 - the kernel's own integer arithmetic, from our generated source
    tiles = []
    for span in _LOOP.findall(source):
        lo, hi = eval(f"({span})", env)  # noqa: S307 - as above
        tiles += range(lo, hi, block_n)
    return tiles


def _needed(lo: int, hi: int, block_n: int, size: int) -> list[int]:
    """The tiles of block_n holding an index in [lo, hi] ∩ [0, size)."""
    lo, hi = max(lo, 0), min(hi, size - 1)
    return [r0 for r0 in range(0, size, block_n) if r0 <= hi and r0 + block_n - 1 >= lo]


def _sources(spelling, options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = run_pipeline(Compilation(Windowed(SPELLINGS[spelling]), _inputs(), options, "win"), until="codegen")
    return c.plan, {s.name: s.source for s in c.sources}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("block_m,block_n", [(16, 16), (32, 16), (16, 64)])
def test_each_pass_visits_exactly_the_tiles_its_window_sees(spelling, block_m, block_n, options):
    plan, sources = _sources(spelling, options)
    assert [k.role for k in plan.kernels] == ["row", "column"], plan.render()
    off = L_K - L_Q
    for k in plan.kernels:
        assert [r.dead for r in k.regions] == [True, False, True], plan.render()
        p_size = L_Q if k.role == "row" else L_K
        for p0 in range(0, p_size, block_m):
            last = p0 + block_m - 1  # the program's nominal rows: a ragged last tile masks the rest
            if k.role == "row":  # query rows p0..last see keys (p0 + off - w, last + off]
                want = _needed(p0 + off - WINDOW + 1, last + off, block_n, L_K)
            else:  # key columns p0..last are seen by queries [p0 - off, last - off + w)
                want = _needed(p0 - off, last - off + WINDOW - 1, block_n, L_Q)
            assert sorted(_visited(sources[k.name], p0, block_m, block_n)) == want, (k.role, p0)


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_windowed_passes_match_float64(spelling, options):
    module, args = Windowed(SPELLINGS[spelling]), _inputs(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(module, args, options=options, name=f"win_{spelling}")
    for got, want in zip(fn(*args), reference(module, args)):
        assert_close(got, want, "float16")
    assert not fn.explain().regions and not fn.explain().fallbacks


def test_the_example_window_starts_each_row_loop_at_its_first_visible_tile(options):
    """examples/own_variants' sliding window (Mistral's layout: [B, L, H, D], grouped KV heads repeated,
    a window of 128): a program of late queries starts its key loop in the window, not at key 0."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples/own_variants/my_variants/sliding_window.py"
    spec = importlib.util.spec_from_file_location("sliding_window_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    g, n = torch.Generator().manual_seed(0), 300
    args = tuple(torch.randn(1, n, h, 16, generator=g).half() for h in (4, 2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = run_pipeline(Compilation(example.SlidingWindow(4, 2), args, options, "example"), until="codegen")
    (kernel,), (source,) = c.plan.kernels, c.sources
    assert kernel.role == "row" and [r.dead for r in kernel.regions] == [True, False, True]
    w = example.WINDOW
    for p0 in range(0, n, 64):
        assert sorted(_visited(source.source, p0, 64, 64)) == _needed(p0 - w + 1, p0 + 63, 64, n), p0
    assert _visited(source.source, 256, 64, 64)[0] != 0  # keys 0..127 lie outside every late row's window


class BufferWindow(torch.nn.Module):
    """The window as a buffer: the user may change it between calls, so it stays an input (no skipping)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.tensor(WINDOW))

    def forward(self, q, k, v):
        i, j = _positions(q, k)
        s = (q @ k.transpose(-1, -2)).float().masked_fill((j > i) | (j <= i - self.window), float("-inf"))
        return torch.softmax(s, -1).to(q.dtype) @ v


def test_a_window_buffer_is_read_at_every_call(options):
    module, args = BufferWindow(), _inputs(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(module, args, options=options, name="win_buffer")
    module.window.fill_(3)
    assert_close(fn(*args), reference(module, args)[0], "float16")


class SinkWindow(torch.nn.Module):
    """StreamingLLM's attention sinks beside a causal window (README's example), plus each key's attention
    mass: the first `sinks` keys and the last `window` ones are visible to each query."""

    def __init__(self, sinks, window):
        super().__init__()
        self.sinks, self.window = sinks, window

    def visible(self, i, j):
        return (j <= i) & ((j < self.sinks) | (j > i - self.window))

    def forward(self, q, k, v):
        s = (q @ k.transpose(-1, -2)).float() / 4
        s = s.masked_fill(~self.visible(*_positions(q, k)), float("-inf"))
        p = torch.softmax(s, -1)
        return p.to(q.dtype) @ v, p.sum(-2)


# sinks inside the first tile, past a tile boundary, as many as the window or more, none (j < 0)
SINK_WINDOWS = [(4, 9), (5, 32), (20, 9), (16, 16), (1, 40), (0, 9)]


def _seen(visible, role: str, p0: int, block_m: int, block_n: int) -> list[int]:
    """The streamed tiles of block_n holding an element that the program's nominal tile p0 .. p0 +
    block_m - 1 sees (row: its queries' visible keys; column: the queries that see one of its keys)."""
    own = torch.arange(p0, p0 + block_m)
    if role == "row":
        i, j, size = own[:, None] + (L_K - L_Q), torch.arange(L_K)[None, :], L_K
    else:
        i, j, size = torch.arange(L_Q)[:, None] + (L_K - L_Q), own[None, :], L_Q
    seen = visible(i, j).expand(i.shape[0], j.shape[1])  # a mask of one index alone broadcasts
    hit = seen.any(0) if role == "row" else seen.any(1)
    return sorted({r // block_n * block_n for r in hit.nonzero().flatten().tolist() if r < size})


@pytest.mark.parametrize("sinks,window", SINK_WINDOWS)
@pytest.mark.parametrize("block_m,block_n", [(16, 16), (32, 16), (16, 64)])
def test_sink_window_passes_visit_the_sinks_and_the_window_only(sinks, window, block_m, block_n, options):
    """The row pass visits the tiles of keys j < sinks, then the window, nothing between; the column
    pass visits the rows below the window only for programs owning a sink key."""
    module = SinkWindow(sinks, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = run_pipeline(Compilation(module, _inputs(), options, "sink"), until="codegen")
    sources, text = {s.name: s.source for s in c.sources}, c.plan.render()
    assert [k.role for k in c.plan.kernels] == ["row", "column"], text
    row, column = c.plan.kernels
    if sinks:
        assert (row.regions[0].live, column.regions[0].owners) == (((-float("inf"), sinks - 1),),) * 2, text
        assert f"where j in [0, {sinks - 1}], dead elsewhere: skipped" in text
    else:  # j < 0 holds nowhere: below the window is dead, as for a plain window
        assert [r.dead for r in row.regions] == [r.dead for r in column.regions] == [True, False, True], text
    for k in c.plan.kernels:
        for p0 in range(0, L_Q if k.role == "row" else L_K, block_m):
            visited = _visited(sources[k.name], p0, block_m, block_n)
            assert len(visited) == len(set(visited)), (k.role, p0, visited)  # no tile twice
            assert sorted(visited) == _seen(module.visible, k.role, p0, block_m, block_n), (k.role, p0)


@pytest.mark.parametrize("sinks,window", SINK_WINDOWS)
@pytest.mark.parametrize("config", [(16, 16, 4, 1), (32, 16, 4, 1), (16, 64, 4, 1)])
def test_sink_window_passes_match_float64(sinks, window, config, options):
    module, args = SinkWindow(sinks, window), _inputs(seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = compiler.compile(module, args, options=replace(options, config=config), name=f"sink_{sinks}_{window}")
    for got, want in zip(fn(*args), reference(module, args)):
        assert_close(got, want, "float16")
    assert not fn.explain().regions and not fn.explain().fallbacks


def _late_keys(i, j):  # no diagonal at all: a cut of j alone (the first keys dropped)
    return j >= 21


@pytest.mark.parametrize("block_m,block_n", [(16, 16), (16, 64)])
def test_a_cut_of_the_keys_alone_skips_their_tiles(block_m, block_n, options):
    module, args = Windowed(_late_keys), _inputs(seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = run_pipeline(Compilation(module, args, options, "late"), until="codegen")
        fn = compiler.compile(module, args, options=replace(options, config=(block_m, block_n, 4, 1)), name="late")
    sources = {s.name: s.source for s in c.sources}
    assert [(r.live, r.owners) for r in c.plan.kernels[0].regions] == [(((21, float("inf")),), None)]
    for k in c.plan.kernels:
        for p0 in range(0, L_Q if k.role == "row" else L_K, block_m):
            visited = _visited(sources[k.name], p0, block_m, block_n)
            assert sorted(visited) == _seen(_late_keys, k.role, p0, block_m, block_n), (k.role, p0)
    for got, want in zip(fn(*args), reference(module, args)):
        assert_close(got, want, "float16")
