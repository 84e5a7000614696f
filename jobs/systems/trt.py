"""tensorrt: the program exported to ONNX and built by TensorRT as a strongly typed network (as the paper).

Export: torch.onnx.export with the dynamo exporter (torch.export + onnxscript; the TorchScript exporter is
deprecated), opset 18, its own optimizer folding constants such as the causal mask (the paper ran onnxsim
for that). corm's any() exports as Cast(bool -> int64) -> ReduceMax -> Cast(bool), so no reduction runs
over bool tensors.

Build: a strongly typed network keeps every tensor in the dtype the ONNX graph gives it (fp16 scores,
fp32 softmax), like the program. Outputs are allocated by PyTorch for each call.
"""

from __future__ import annotations

import inspect

import torch

from jobs.systems.base import System, module_missing

OPSET = 18


def input_names(program: torch.nn.Module) -> list[str]:
    return list(inspect.signature(program.forward).parameters)


def export_onnx(program: torch.nn.Module, inputs: tuple, output_names: list[str]):
    """The program as an onnx.ModelProto with named inputs (forward's arguments) and outputs."""
    onnx_program = torch.onnx.export(program.eval(), inputs, input_names=input_names(program),
                                     output_names=output_names, opset_version=OPSET, dynamo=True,
                                     optimize=True, verbose=False)
    return onnx_program.model_proto


class TensorRT(System):
    name = "tensorrt"

    def unavailable(self):
        missing = module_missing("tensorrt")
        if missing:
            return missing
        return None if torch.cuda.is_available() else "TensorRT needs a CUDA GPU (none visible)"

    def compile(self, program, inputs, spec):
        from jobs.cases import kernel_case

        outputs = [o.name for o in kernel_case(spec.model).outputs]
        model = export_onnx(program, inputs, outputs)
        engine = build_engine(model.SerializeToString())
        return EngineRunner(engine, input_names(program), outputs)

    def details(self):
        import tensorrt

        return {"library": "tensorrt", "version": tensorrt.__version__, "network": "strongly typed",
                "onnx": f"torch.onnx.export(dynamo=True, opset {OPSET})"}


def build_engine(onnx_bytes: bytes):
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT's ONNX parser failed: {errors}")
    serialized = builder.build_serialized_network(network, builder.create_builder_config())
    if serialized is None:
        raise RuntimeError("TensorRT could not build an engine (see its log above)")
    return trt.Runtime(logger).deserialize_cuda_engine(serialized)


class EngineRunner:
    """Calls a TensorRT engine on PyTorch CUDA tensors: inputs by name, outputs allocated per call."""

    def __init__(self, engine, inputs: list[str], outputs: list[str]):
        import tensorrt as trt

        dtypes = {trt.float16: torch.float16, trt.bfloat16: torch.bfloat16, trt.float32: torch.float32,
                  trt.bool: torch.bool, trt.int32: torch.int32, trt.int64: torch.int64}
        self.engine = engine
        self.context = engine.create_execution_context()
        self.inputs = inputs
        self.outputs = [(name, tuple(engine.get_tensor_shape(name)), dtypes[engine.get_tensor_dtype(name)])
                        for name in outputs]

    def __call__(self, *args):
        args = [a.contiguous() for a in args]
        for name, a in zip(self.inputs, args):
            self.context.set_tensor_address(name, a.data_ptr())
        outs = [torch.empty(shape, dtype=dtype, device="cuda") for _, shape, dtype in self.outputs]
        for (name, _, _), o in zip(self.outputs, outs):
            self.context.set_tensor_address(name, o.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        return outs[0] if len(outs) == 1 else tuple(outs)
