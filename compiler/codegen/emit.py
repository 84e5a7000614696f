"""Expressions: an IR node rendered as Triton code inside one scope of a kernel.

A value is rendered in an *orientation*: which logical role its two tile axes hold. Tile values of the
loop use ("P", "R") (rows: the program's tile, columns: the streamed tile), so a row vector is [BM, 1],
a column vector [1, BN] and a scalar a scalar. Matmul operands use ("P", c) and (c, "R") for their
contracted class c, the P·V operand (R, e), and the epilogue ("P", e). Loads compute their offsets from
the view layout and the tensor's runtime strides, in int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from compiler.codegen.block import Line
from compiler.ir.dtypes import is_float, to_triton
from compiler.ir.node import Node
from compiler.ir.ops import G, Op

# templates: {m} is the language module the kernel text calls (Naming.lang), {} the operands
_UNARY = {Op.EXP2: "{m}.exp2({})", Op.LOG2: "{m}.log2({})", Op.EXP: "{m}.exp({})", Op.LOG: "{m}.log({})",
          Op.SQRT: "{m}.sqrt({})", Op.ABS: "{m}.abs({})", Op.NEG: "-({})", Op.RECIP: "(1.0 / {})",
          Op.NOT: "({} == 0)", Op.TANH: "_tanh({})"}
_BINARY = {Op.ADD: "({} + {})", Op.SUB: "({} - {})", Op.MUL: "({} * {})", Op.DIV: "({} / {})",
           Op.MAXIMUM: "{m}.maximum({}, {})", Op.MINIMUM: "{m}.minimum({}, {})", Op.GE: "({} >= {})",
           Op.GT: "({} > {})", Op.LE: "({} <= {})", Op.LT: "({} < {})", Op.EQ: "({} == {})",
           Op.NE: "({} != {})", Op.AND: "({} & {})", Op.OR: "({} | {})",
           # Triton's integer // and % round toward zero, as C does
           Op.TRUNCDIV: "({} // {})", Op.FMOD: "({} % {})"}


# ops whose operands torch converts to the result type before computing
_PROMOTING = (G.UNARY | G.ARITH) - {Op.CAST, Op.NOT}


def literal(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        if math.isnan(value):
            return 'float("nan")'
        return repr(value)
    return str(value)


@dataclass
class Scope:
    """Statements (codegen/block.py) and what they already computed (node id, orientation) -> variable."""

    kind: str = "pre"  # pre (before the loops), loop, post (after the loops)
    bounds: bool = False  # the streamed tile may run past the end (mask R)
    parent: Scope | None = None
    body: list = field(default_factory=list)
    memo: dict = field(default_factory=dict)

    def lookup(self, key):
        scope = self
        while scope is not None:
            if key in scope.memo:
                return scope.memo[key]
            scope = scope.parent
        return None

    def emit(self, text: str) -> None:
        self.body.append(Line(text))

    def assign(self, name: str, expr: str) -> None:
        self.body.append(Line.assign(name, expr))


class Naming:
    """Names in a generated kernel, for every emitter context: a tensor argument (registered in order of
    first use) and a fresh variable per computed node."""

    # the language module the kernel's text calls: tl (triton.language) or gl (Gluon's, codegen/gluon); the
    # two share the names of the functions and element types this package emits
    lang = "tl"

    def __init__(self, names):
        self.names = names
        self.tensors: list[Node] = []
        self.used_names: dict[str, int] = {}

    def arg(self, n: Node) -> str:
        if not any(t is n for t in self.tensors):
            self.tensors.append(n)
        bare = self.names.bare(n)
        return bare if not bare[0].isdigit() else f"t{bare}"

    def var_name(self, n: Node, emitter: Emitter) -> str:
        bare = self.names.bare(n)
        stem = f"b_{bare}" if bare != "x" else "t"
        count = self.used_names.get(stem, 0)
        self.used_names[stem] = count + 1
        return stem if count == 0 and bare != "x" else f"{stem}_{count}"


class Emitter:
    """Renders nodes for one kernel. `ctx` (codegen/kernel.py) answers the kernel-specific questions:
    the role of a class, how a tensor is loaded, what a sink of this kernel stands for."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def value(self, n: Node, scope: Scope, orient=("P", "R")) -> str:
        if n.op is Op.CONST:
            return literal(n.attr("value"))
        key = (id(n), orient)
        hit = scope.lookup(key)
        if hit is not None:
            return hit[1]
        special = self.ctx.special(n, scope, orient)
        if special is not None:
            return special
        target = self.ctx.scope_for(n, scope)
        text = self._render(n, target, orient)
        name = self.ctx.var_name(n, self)
        target.assign(name, text)
        # the memo holds the node too, so its id is not reused while the scope lives
        target.memo[key] = (n, name)
        return name

    def _render(self, n: Node, scope: Scope, orient) -> str:
        if n.op is Op.VIEW and not self.ctx.is_tensor(n) and not self.ctx.is_tensor(n.src) and (
                n.src.op is not Op.INPUT):
            # a view that only permutes or drops size-1 dims of a computed value: same tile, same roles
            return self.value(n.src, scope, orient)
        if n.op in (Op.INPUT, Op.VIEW) or self.ctx.is_tensor(n):
            return self.ctx.load(n, scope, orient)
        m = self.ctx.lang
        if n.op is Op.IOTA:
            return self._index(n, orient)
        if n.op is Op.DOT:
            return self._dot(n, scope, orient)
        args = [self.value(i, scope, orient) for i in n.inputs]
        if is_float(n.dtype) and n.op in _PROMOTING:
            # torch computes in the result type: an integer operand (an index difference, a position) is
            # converted first; Triton's float functions refuse integers (exp2 of an int64 tile)
            wide = to_triton(compute_dtype(n.dtype, self.ctx.target), m)
            args = [f"{a}.to({wide})" if not is_float(i.dtype) and i.op is not Op.CONST else a
                    for a, i in zip(args, n.inputs)]
        if n.op is Op.CAST:
            return f"{args[0]}.to({to_triton(compute_dtype(n.dtype, self.ctx.target), m)})"
        if n.op in _UNARY:
            if n.op is Op.TANH:
                return f"_tanh({args[0]}.to({m}.float32))"
            if n.op in (Op.LOG2, Op.LOG) and self.ctx.target == "cuda" and n.dtype != "f64":
                t = _log2(args[0], n.inputs[0].dtype, m)
                return _from_f32(f"({t} * {literal(math.log(2.0))})" if n.op is Op.LOG else t, n.dtype, m)
            return _UNARY[n.op].format(args[0], m=m)
        if n.op in _BINARY:
            return _BINARY[n.op].format(*args, m=m)
        if n.op is Op.POW:
            return _pow(n, args, self.ctx.target, m)
        if n.op in (Op.FLOORDIV, Op.REM):
            return _floor_division(n, args, m)
        if n.op is Op.WHERE:
            return f"{m}.where({args[0]}, {args[1]}, {args[2]})"
        raise NotImplementedError(f"cannot render {n.op.name} inside a kernel")

    def _index(self, n: Node, orient) -> str:
        """An index tensor: the tile's index vector (int64 or int32), in the node's dtype when that is a
        float (torch.arange(n, dtype=torch.float32))."""
        text = self.ctx.index(n, orient)
        if not is_float(n.dtype):
            return text
        if text == "0":
            return "0.0"
        return f"{text}.to({to_triton(compute_dtype(n.dtype, self.ctx.target), self.ctx.lang)})"

    def _dot(self, n: Node, scope: Scope, orient) -> str:
        """A score matmul: the operand holding P gives the rows, the one holding R the columns."""
        a, b = n.inputs
        k = self.ctx.contracted(n)
        if self.ctx.holds_p(a):
            x, y = self.value(a, scope, ("P", k)), self.value(b, scope, (k, "R"))
        else:
            x, y = self.value(b, scope, ("P", k)), self.value(a, scope, (k, "R"))
        return dot_call(x, y, _narrow(a.dtype, b.dtype), self.ctx.target, lang=self.ctx.lang)


def compute_dtype(dtype: str, target: str) -> str:
    """The dtype a value is computed in. Triton's interpreter keeps bf16 as raw 16-bit patterns and
    mixes them up in arithmetic, so there bf16 values are widened to f32 (exact) until they are stored."""
    return "f32" if target == "interpret" and dtype == "bf16" else dtype


def dot_call(x: str, y: str, dtype: str, target: str, acc: str | None = None, lang: str = "tl") -> str:
    """tl.dot with both operands cast to `dtype` (fp32 accumulation). An fp32 matmul keeps fp32's accuracy:
    on a GPU as three TF32 tensor-core products (each operand split into a TF32 head and its remainder;
    the remainders' product, below fp32's last bit, is dropped), not IEEE fp32 on the CUDA cores at a
    fraction of the tensor cores' rate; fp64 and the interpreter stay IEEE."""
    dtype = compute_dtype(dtype, target)
    cast = f".to({to_triton(dtype, lang)})"
    precision = {"f64": "ieee", "f32": "tf32x3" if target == "cuda" else "ieee"}.get(dtype)
    extra = (f", {acc}" if acc else "") + (f', input_precision="{precision}"' if precision else "")
    return f"{lang}.dot({x}{cast}, {y}{cast}{extra})"


def _narrow(a: str, b: str) -> str:
    order = ["f16", "bf16", "f32", "f64"]
    if not (is_float(a) and is_float(b)):
        return "f32"
    return a if order.index(a) <= order.index(b) else b


def _pow(n: Node, args, target: str, m: str) -> str:
    e = n.inputs[1]
    if e.op is Op.CONST and float(e.attr("value")).is_integer() and 1 <= e.attr("value") <= 4:
        return "(" + " * ".join([args[0]] * int(e.attr("value"))) + ")"
    if target != "cuda" or n.dtype == "f64":
        return f"{m}.exp2({m}.log2({args[0]}) * {args[1]})"
    return _from_f32(f"{m}.exp2({_log2(args[0], n.inputs[0].dtype, m)} * {args[1]})", n.dtype, m)


def _floor_division(n: Node, args, m: str) -> str:
    """a // b and a % b rounded toward -inf (torch's, Python's) from Triton's integer // and %, which round
    toward zero: where the remainder is non-zero and its sign differs from b's, the quotient is one less
    and the remainder one b more. A constant b's sign is known here."""
    a, b = args
    r = f"({a} % {b})"
    divisor = n.inputs[1]
    if divisor.op is Op.CONST:
        off = f"{r} < 0" if divisor.attr("value") > 0 else f"{r} > 0"
    else:
        off = f"({r} != 0) & (({r} < 0) != ({b} < 0))"
    if n.op is Op.FLOORDIV:
        return f"{m}.where({off}, ({a} // {b}) - 1, {a} // {b})"
    return f"{m}.where({off}, {r} + {b}, {r})"


def _log2(x: str, dtype: str, m: str) -> str:
    """log2 of a tile on the GPU in f32: one MUFU instruction (module.py's _log2) instead of libdevice's."""
    return f"_log2({x})" if dtype == "f32" else f"_log2({x}.to({m}.float32))"


def _from_f32(t: str, dtype: str, m: str) -> str:
    """An f32 expression as a value of the node's dtype (f16/bf16 on the GPU)."""
    return t if dtype == "f32" else f"{t}.to({to_triton(dtype, m)})"
