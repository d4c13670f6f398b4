"""Builds the TFLite fixtures in this folder with the FlatBuffers schema bindings.

Run from the repository root (needs the test-only packages ``tflite`` and ``flatbuffers``):
    python tests/data/tflite/make_tflite.py

The models are structurally valid TFLite flatbuffers (identifier TFL3, schema version 3): one
subgraph with two float32 tensors and one operator per operator code.  No kernel ever runs.

- ``add.tflite``: builtin ADD only (clean).
- ``custom_ops.tflite``: ADD, a CUSTOM op ``EvilCustomOp`` and a Flex op ``FlexWriteFile``.
- ``flex_benign.tflite``: a Flex op for plain math (``FlexRFFT``).
- ``bad_opcode_index.tflite``: an operator whose opcode_index points past operator_codes.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import flatbuffers

OUT = Path(__file__).parent


def _mod(name: str):  # the generated *modules* (tflite/__init__ re-exports same-named classes)
    return importlib.import_module(f"tflite.{name}")


def build(ops: list[tuple[int, str | None]], opcode_indices: list[int] | None = None) -> bytes:
    OperatorCode, Operator, SubGraph, Tensor, Buffer, Model = (
        _mod(n) for n in ("OperatorCode", "Operator", "SubGraph", "Tensor", "Buffer", "Model")
    )
    b = flatbuffers.Builder(1024)
    names = [b.CreateString(f"t{i}") for i in range(2)]
    customs = [b.CreateString(c) if c else None for _, c in ops]
    codes = []
    for (builtin, _), custom in zip(ops, customs, strict=True):
        OperatorCode.Start(b)
        OperatorCode.AddDeprecatedBuiltinCode(b, min(builtin, 127))
        if custom is not None:
            OperatorCode.AddCustomCode(b, custom)
        OperatorCode.AddVersion(b, 1)
        OperatorCode.AddBuiltinCode(b, builtin)
        codes.append(OperatorCode.End(b))
    tensors = []
    for i in range(2):
        Tensor.StartShapeVector(b, 1)
        b.PrependInt32(4)
        shape = b.EndVector()
        Tensor.Start(b)
        Tensor.AddShape(b, shape)
        Tensor.AddType(b, 0)  # FLOAT32
        Tensor.AddBuffer(b, 0)
        Tensor.AddName(b, names[i])
        tensors.append(Tensor.End(b))
    operators = []
    for idx in opcode_indices if opcode_indices is not None else range(len(ops)):
        Operator.StartInputsVector(b, 1)
        b.PrependInt32(0)
        inputs = b.EndVector()
        Operator.StartOutputsVector(b, 1)
        b.PrependInt32(1)
        outputs = b.EndVector()
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, idx)
        Operator.AddInputs(b, inputs)
        Operator.AddOutputs(b, outputs)
        operators.append(Operator.End(b))

    def vec(start, items):
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    t_vec = vec(SubGraph.StartTensorsVector, tensors)
    o_vec = vec(SubGraph.StartOperatorsVector, operators)
    SubGraph.StartInputsVector(b, 1)
    b.PrependInt32(0)
    in_vec = b.EndVector()
    SubGraph.StartOutputsVector(b, 1)
    b.PrependInt32(1)
    out_vec = b.EndVector()
    sg_name = b.CreateString("main")
    SubGraph.Start(b)
    SubGraph.AddTensors(b, t_vec)
    SubGraph.AddInputs(b, in_vec)
    SubGraph.AddOutputs(b, out_vec)
    SubGraph.AddOperators(b, o_vec)
    SubGraph.AddName(b, sg_name)
    subgraph = SubGraph.End(b)
    Buffer.Start(b)
    empty = Buffer.End(b)
    codes_vec = vec(Model.StartOperatorCodesVector, codes)
    sg_vec = vec(Model.StartSubgraphsVector, [subgraph])
    buf_vec = vec(Model.StartBuffersVector, [empty])
    desc = b.CreateString("modelxray test fixture")
    Model.Start(b)
    Model.AddVersion(b, 3)
    Model.AddOperatorCodes(b, codes_vec)
    Model.AddSubgraphs(b, sg_vec)
    Model.AddDescription(b, desc)
    Model.AddBuffers(b, buf_vec)
    b.Finish(Model.End(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def main() -> None:
    import tflite

    add, custom = tflite.BuiltinOperator.ADD, tflite.BuiltinOperator.CUSTOM
    fixtures = {
        "add.tflite": build([(add, None)]),
        "custom_ops.tflite": build(
            [(add, None), (custom, "EvilCustomOp"), (custom, "FlexWriteFile")]
        ),
        "flex_benign.tflite": build([(custom, "FlexRFFT")]),
        "bad_opcode_index.tflite": build([(add, None)], opcode_indices=[7]),
    }
    for name, data in fixtures.items():
        (OUT / name).write_bytes(data)
        # Round-trip through the schema bindings as a check that the file is well formed.
        model = tflite.Model.GetRootAsModel(data, 0)
        got = [
            (model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).CustomCode())
            for i in range(model.OperatorCodesLength())
        ]
        print(name, len(data), "bytes", got)


if __name__ == "__main__":
    main()
