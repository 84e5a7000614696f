"""The Hopper target: row and column passes as warp-specialized Gluon kernels for sm_90.

Chosen per kernel by the pipeline's `target` step when CompileOptions.hopper_kernels is on (choose.py);
the Triton path (codegen/kernel.py) stays for other GPUs, the interpreter and every kernel this target
declines, and the decline's reason shows in `explain`.

    version.py   what the installed Gluon offers (TMA load name, warp_specialize form), detected once
    operands.py  the matmul operands loaded by TMA, and the declines (Decline)
    consumer.py  a consumer warpgroup: the Triton path's loop body on wgmma tiles, with explicit layouts
    module.py    the producer warp, the kernel that forks the partitions, the host wrappers
    choose.py    the target step

One program owns 128 rows of its axis P (a row pass: queries; a column pass: keys) and streams the
other axis R in tiles of BLOCK_N:

    producer (1 warp, 24 registers)   A once (TMA, two 64-row halves), then per R tile: wait for a free
                                      stage, TMA B (and V) into it, the stage's mbarrier counts the bytes
    consumer 0 and 1 (4 warps each,   per R tile: wait for the stage, take the turn, S = A_half·Bᵀ
      240 registers)                  (async wgmma from shared memory), pass the turn, wait S, then the
                                      Triton path's body: running max, exp2 with the max subtracted,
                                      rescaled sums; P·V as a second wgmma with P from registers;
                                      release the stage; after the loop, the epilogue and stores

The turn alternates the two consumers' score matmuls, so one warpgroup's softmax runs while the other's
matmuls occupy the tensor cores (ping-pong). Causal programs run longest first (the plan's reverse
order); dead tiles are never loaded, fully live ones carry no mask, as on the Triton path.
"""
