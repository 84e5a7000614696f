"""The embedded compiler: PyTorch attention-like programs -> fused Triton kernels.

    fn = compiler.compile(module, example_inputs)     # a callable with the program's outputs
    compiler.explain(module, example_inputs).render() # per output: fused or not and why; kernels, torch
    compiler.dump(module, example_inputs, after="plan")
    torch.compile(module, backend="flashtensor")

The pipeline (compiler/pipeline.py, one ordered list; each step's product prints as text):

  capture    torch.export at the ATen level -> our IR (compiler/ir: one frozen Node, one Op enum); ops with
             several results (split, chunk, unbind, max along a dim) give one node per result
  simplify   layout ops fold into one strided view per input; no-op casts, identity views, constants
  decompose  softmax -> base-2 row statistics keeping the max (x2 = x·log2e, m, l, lse = m + log2 l,
             p = exp2(x2 - lse)); triu/tril -> index functions; exp/log -> exp2/log2
  fold       f32 from the matmul on; scales merge into one multiply; exp2(a) >= z -> a >= log2(max(z, 0))
  restrict   a slice or selection of the rows or columns of a score-sized value (the last w queries, one
             row, the first keys) moves down to the matmul's operands: a score space of its own
  analyze    the tensor properties: score spaces (I x J of a first-level matmul; a program may have
             several) and score-sized tensors; index-defined masks as atoms on j - i; every reduction of
             a score-sized value classed independent / online (rescaled by a running max) / finished
             (needs another pass's final statistics), with the stage at which it can run; score-sized
             values that must exist (probabilities as an output) are stores; what no kernel can compute
             (a torch op on the scores) is a blocked use
  plan       named steps over a frozen draft (fusion/planner.py): reductions grouped into row passes (a
             program owns query tiles, streams keys) and column passes (owns key tiles, streams
             queries, reads the row lse); per tile region the masks are folded and dead regions skipped;
             a masked region whose contribution to any/max/min reads only head-independent inputs is
             reduced once for all heads; such input-only steps over one [rows, cols] domain become one
             map kernel; a blocked use costs only itself: it and what reads it form a torch region that
             recomputes the scores it needs chunk by chunk (a block of heads or query rows at a time);
             small ops left to torch; rejections with reasons
  target     per kernel, Triton or (CompileOptions.hopper_kernels, off) a warp-specialized Gluon kernel for
             sm_90: producer warp with TMA into an mbarrier ring, two consumer warpgroups in ping-pong with
             async wgmma; kernels it cannot express stay Triton, the reason joins the plan's rejections
  codegen    one Triton kernel per pass, built as data and rendered (codegen/block.py): two-stage loops
             from the regions, online softmax with exp2, int64 offsets, masked ragged edges, stores
             written tile by tile; map kernels: a program owns a tile of one axis and streams the other;
             a kernel it cannot write sends its score space back to the planner (torch, chunked)
  launch     the callable: check, allocate (never a score-sized buffer but the outputs), launch kernels,
             run torch steps and regions, autotune on first call

Nothing after capture raises: a step that fails leaves the captured graph (or, when it cannot be
translated, the exported program) to torch, and explain says why. CompileOptions carries every setting
(target, autotune space, kernel folder...); no module here reads an environment variable.

Where things are (one concept per file):

  ir/         ops.py (Op enum, groups G), node.py (Node, Graph), layout.py (views as factor maps),
              build.py (typed constructors), printer.py, evaluate.py (torch semantics of the IR),
              slicing.py (a node on a slice of one dim: what torch regions chunk along)
  frontend/   capture.py (torch.export), aten.py (ATen op -> IR rule table; unknown ops -> TORCH nodes),
              multi.py (ops with several results)
  passes/     rewrite.py (the one rule engine, cse), simplify.py, decompose.py, fold.py (rule tables),
              restrict.py (row and column selections of the scores down to the matmul)
  analysis/   axes.py (axis classes, score spaces), index.py (mask atoms on j - i), values.py (partial
              evaluation: dead tiles), reductions.py (sink classes, online factorization), properties.py
  fusion/     plan.py (the Plan as data + text), planner.py (the planner's steps), draft.py (its frozen
              draft), kernels.py (passes, regions, rejections), hoist.py (regions reduced once for all
              heads), regions.py (what only torch computes, and its chunking), demand.py (what must
              exist as a tensor), order.py, maps.py (input-only steps -> map kernels)
  codegen/    emit.py (expressions), context.py (roles, loads, offsets), loops.py (segments), block.py
              (a kernel body as data), kernel.py, module.py (a kernel's module text), maps.py;
              gluon/ (the Hopper target: operands, consumer, module, choose)
  launch/     loader.py (kernel modules on disk), launcher.py (the callable), chunked.py (torch regions)
  autotune/   space.py (configs as data), cache.py (persistent, keyed), tune.py
  api.py, explain.py, dynamo.py (torch.compile backend)

Tests: tests/compiler (CPU, kernels through TRITON_INTERPRET=1; golden IR/plan/source files in
tests/compiler/golden, regenerate with FTRUN_UPDATE_GOLDEN=1 python -m pytest tests/compiler/test_golden.py);
GPU: FTRUN_TEST_GPU=1 python -m pytest -m gpu tests/compiler/test_gpu.py and `ftrun bench kernels`.

Why this shape: no score-sized (q_len x kv_len per head) tensor ever reaches global memory; softmax keeps
its max (the original FlashTensor dropped it and overflows fp16 above logits of ~11); column statistics
(H2O, RoCo, SnapKV, CORM, Keyformer) come from a second pass that recomputes scores from Q, K and the
saved row lse, in key-block-major order with no atomics.
"""

from compiler.api import CompiledProgram, compile, dump, explain
from compiler.errors import CompileError
from compiler.frontend.capture import warm_up
from compiler.options import CompileOptions
from compiler.pipeline import PIPELINE, PIPELINE_STEPS

__all__ = ["CompileError", "CompileOptions", "CompiledProgram", "PIPELINE", "PIPELINE_STEPS", "compile", "dump",
           "explain",
           "warm_up"]
