"""Builds the TFLite fixtures in this folder with the FlatBuffers schema bindings.

Run from the repository root (needs the test-only packages ``tflite`` and ``flatbuffers``):
    python tests/data/tflite/make_tflite.py

The models are structurally valid TFLite flatbuffers (identifier TFL3, schema version 3): one
subgraph with two float32 tensors and one operator per operator code.  No kernel ever runs.

- ``add.tflite``: builtin ADD only (clean).
- ``custom_ops.tflite``: ADD, a CUSTOM op ``EvilCustomOp`` and a Flex op ``FlexWriteFile``.
- ``flex_benign.tflite``: a Flex op for plain math (``FlexRFFT``).
- ``bad_opcode_index.tflite``: an operator whose opcode_index points past operator_codes.
- ``flex_unlisted.tflite``: a Flex op that is not on TensorFlow's Flex allow-list
  (``FlexMyOwnKernel``).
- ``flex_stock_save.tflite``: a stock Flex op that writes files (``FlexSaveV2``).
- ``large_layout.tflite``: the layout of models over 2 GB: a buffer's bytes stored after the
  FlatBuffer, addressed by ``Buffer.offset``/``size`` from the start of the file (clean).
- ``buffer_past_end.tflite``: the same layout with the buffer's offset past the end of the file.
- ``bad_buffer_index.tflite``: a tensor whose buffer index points past ``buffers``.
- ``flex_disguised.tflite``: custom code ``FlexRFFT`` (a stock op) whose custom options, which
  the Flex kernel runs, name ``WriteFile``.
- ``flex_no_options.tflite``: ``FlexRFFT`` without custom options (the op cannot be known).

Every Flex operator (except in ``flex_no_options``) carries custom options the way the
converter writes them: a FlexBuffer vector [op name, serialized NodeDef {name, op}].
"""

from __future__ import annotations

import importlib
from pathlib import Path

import flatbuffers

OUT = Path(__file__).parent


def _mod(name: str):  # the generated *modules* (tflite/__init__ re-exports same-named classes)
    return importlib.import_module(f"tflite.{name}")


def build(
    ops: list[tuple[int, str | None]],
    opcode_indices: list[int] | None = None,
    *,
    external: tuple[int, int] | None = None,
    tensor_buffer: int = 0,
    options: dict[int, bytes] | None = None,
) -> bytes:
    """``external``: (offset, size) of a second buffer stored outside the FlatBuffer, which
    tensor 1 uses; ``options``: custom options by opcode index (default: Flex options naming
    the op of a ``Flex<Op>`` custom code)."""
    if options is None:
        options = {
            i: flex_options(c[4:]) for i, (_, c) in enumerate(ops) if c and c.startswith("Flex")
        }
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
        Tensor.AddBuffer(b, 1 if external is not None and i == 1 else tensor_buffer)
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
        custom_options = b.CreateByteVector(options[idx]) if idx in options else None
        Operator.Start(b)
        if custom_options is not None:
            Operator.AddCustomOptions(b, custom_options)
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
    buffers = [Buffer.End(b)]
    if external is not None:
        Buffer.Start(b)
        Buffer.AddOffset(b, external[0])
        Buffer.AddSize(b, external[1])
        buffers.append(Buffer.End(b))
    codes_vec = vec(Model.StartOperatorCodesVector, codes)
    sg_vec = vec(Model.StartSubgraphsVector, [subgraph])
    buf_vec = vec(Model.StartBuffersVector, buffers)
    desc = b.CreateString("modelxray test fixture")
    Model.Start(b)
    Model.AddVersion(b, 3)
    Model.AddOperatorCodes(b, codes_vec)
    Model.AddSubgraphs(b, sg_vec)
    Model.AddDescription(b, desc)
    Model.AddBuffers(b, buf_vec)
    b.Finish(Model.End(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _proto_str(field: int, text: str) -> bytes:
    data = text.encode()
    assert len(data) < 128
    return bytes([field << 3 | 2, len(data)]) + data


def flex_options(op: str) -> bytes:
    """What the converter writes for a Flex op: FlexBuffer [op, NodeDef{name=1, op=2}]."""
    from flatbuffers import flexbuffers

    node_def = _proto_str(1, f"node_{op}") + _proto_str(2, op)
    fbb = flexbuffers.Builder()
    with fbb.Vector():
        fbb.String(op)
        fbb.String(node_def.decode())  # the converter writes the NodeDef as a string
    return bytes(fbb.Finish())


def large_layout(add: int) -> bytes:
    """What the converter writes for models over 2 GB: the FlatBuffer, padding to 16 bytes, then
    the buffers' bytes; ``Buffer.offset`` counts from the start of the file."""
    data = bytes(range(16))  # four float32 values
    probe = build([(add, None)], external=(1 << 20, len(data)))  # same size, any offset
    at = -(-len(probe) // 16) * 16
    flat = build([(add, None)], external=(at, len(data)))
    assert len(flat) == len(probe)
    return flat + bytes(at - len(flat)) + data


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
        "flex_unlisted.tflite": build([(custom, "FlexMyOwnKernel")]),
        "flex_stock_save.tflite": build([(add, None), (custom, "FlexSaveV2")]),
        "large_layout.tflite": large_layout(add),
        "buffer_past_end.tflite": build([(add, None)], external=(1 << 31, 16)),
        "bad_buffer_index.tflite": build([(add, None)], tensor_buffer=5),
        "flex_disguised.tflite": build(
            [(custom, "FlexRFFT")], options={0: flex_options("WriteFile")}
        ),
        "flex_no_options.tflite": build([(custom, "FlexRFFT")], options={}),
    }
    for name, data in fixtures.items():
        (OUT / name).write_bytes(data)
        # Round-trip through the schema bindings as a check that the file is well formed.
        model = tflite.Model.GetRootAsModel(data, 0)
        got = [
            (model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).CustomCode())
            for i in range(model.OperatorCodesLength())
        ]
        bufs = [
            (model.Buffers(i).Offset(), model.Buffers(i).Size())
            for i in range(model.BuffersLength())
        ]
        print(name, len(data), "bytes", got, "buffers", bufs)


if __name__ == "__main__":
    main()
