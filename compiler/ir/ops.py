"""The IR's operations: one enum, plus named groups that passes match against instead of listing ops."""

from __future__ import annotations

from enum import Enum, auto


class Op(Enum):
    # sources: a graph input, a constant (a scalar broadcast to the node's shape), an index tensor
    INPUT = auto()
    CONST = auto()
    IOTA = auto()  # value = the element's index along attr `axis`
    # unary elementwise
    NEG = auto()
    EXP = auto()
    EXP2 = auto()
    LOG = auto()
    LOG2 = auto()
    TANH = auto()
    ABS = auto()
    SQRT = auto()
    RECIP = auto()
    NOT = auto()
    CAST = auto()  # to the node's dtype
    # binary elementwise (numpy broadcasting, aligned on the right)
    ADD = auto()
    SUB = auto()
    MUL = auto()
    DIV = auto()
    MAXIMUM = auto()
    MINIMUM = auto()
    POW = auto()
    # integer division and remainder: FLOORDIV and REM round toward -inf (torch.floor_divide, Python's //
    # and %, torch.remainder), TRUNCDIV and FMOD toward zero (rounding_mode="trunc", torch.fmod)
    FLOORDIV = auto()
    TRUNCDIV = auto()
    REM = auto()
    FMOD = auto()
    GE = auto()
    GT = auto()
    LE = auto()
    LT = auto()
    EQ = auto()
    NE = auto()
    AND = auto()
    OR = auto()
    WHERE = auto()  # where(cond, a, b)
    # reductions along attr `axis`; the reduced dim is kept with size 1
    SUM = auto()
    MAX = auto()
    MIN = auto()
    ANY = auto()
    # composite ops that `decompose` expands (attr `axis`; TRIU/TRIL attr `diagonal`)
    SOFTMAX = auto()
    LOG_SOFTMAX = auto()
    TRIU = auto()
    TRIL = auto()
    # batched matmul [..., M, K] x [..., K, N] -> [..., M, N]; batch dims broadcast
    DOT = auto()
    # a strided view of its input (attr `layout`, see ir/layout.py)
    VIEW = auto()
    # an ATen op run by torch as is (attr `target`, attr `template` for its non-tensor arguments)
    TORCH = auto()


class G:
    """Named groups of ops."""

    SOURCE = frozenset({Op.INPUT, Op.CONST, Op.IOTA})
    UNARY = frozenset({Op.NEG, Op.EXP, Op.EXP2, Op.LOG, Op.LOG2, Op.TANH, Op.ABS, Op.SQRT, Op.RECIP,
                       Op.NOT, Op.CAST})
    INT_DIVISION = frozenset({Op.FLOORDIV, Op.TRUNCDIV, Op.REM, Op.FMOD})
    ARITH = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM, Op.MINIMUM, Op.POW}) | INT_DIVISION
    COMPARE = frozenset({Op.GE, Op.GT, Op.LE, Op.LT, Op.EQ, Op.NE})
    LOGICAL = frozenset({Op.AND, Op.OR, Op.NOT})
    BINARY = ARITH | COMPARE | frozenset({Op.AND, Op.OR})
    ELEMENTWISE = UNARY | BINARY | frozenset({Op.WHERE})
    REDUCE = frozenset({Op.SUM, Op.MAX, Op.MIN, Op.ANY})
    COMPOSITE = frozenset({Op.SOFTMAX, Op.LOG_SOFTMAX, Op.TRIU, Op.TRIL})
    COMMUTATIVE = frozenset({Op.ADD, Op.MUL, Op.MAXIMUM, Op.MINIMUM, Op.EQ, Op.NE, Op.AND, Op.OR})
    # reductions an accumulator can combine tile by tile, with their identity element
    IDENTITY = {Op.SUM: 0.0, Op.MAX: float("-inf"), Op.MIN: float("inf"), Op.ANY: False}
