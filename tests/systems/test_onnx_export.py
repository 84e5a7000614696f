"""The tensorrt adapter's ONNX export, checked on CPU with onnxruntime (TensorRT itself is not installed here)."""

from __future__ import annotations

import pytest
import torch
from systems_testlib import MODELS, ODD

from jobs.cases import kernel_case
from jobs.check import check_outputs
from jobs.systems.trt import OPSET, export_onnx

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")


def exported(model: str, dims: dict):
    case = kernel_case(model)
    inputs = case.inputs(dims, "float16", "cpu", 7)
    proto = export_onnx(case.build(dims), tuple(inputs.values()), [o.name for o in case.outputs])
    return case, inputs, proto


@pytest.mark.parametrize("model", MODELS)
def test_export_computes_the_case(model):
    ort = pytest.importorskip("onnxruntime")
    case, inputs, proto = exported(model, ODD)
    assert [i.name for i in proto.graph.input] == list(inputs)
    assert [o.name for o in proto.graph.output] == [o.name for o in case.outputs]
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {name: t.numpy() for name, t in inputs.items()})
    check_outputs(tuple(torch.from_numpy(o) for o in outputs), case.outputs, case.reference(inputs), "float16")


def test_corm_reduces_no_bool_tensor_and_returns_bool():
    # reduce layers (TensorRT's among them) may not take bool: the exporter casts around any()
    _, _, proto = exported("corm", ODD)
    graph = onnx.shape_inference.infer_shapes(proto).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input]}
    reduces = [n for n in graph.node if n.op_type in ("ReduceMax", "ReduceMin")]
    assert reduces and all(types[n.input[0]] != onnx.TensorProto.BOOL for n in reduces)
    assert graph.output[1].type.tensor_type.elem_type == onnx.TensorProto.BOOL
