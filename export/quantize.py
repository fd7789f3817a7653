"""int8 graphs whose every row is computed on its own, so a sentence translates the same alone or in a batch.

Dynamic quantization (`quantize_dynamic`) picks one activation scale per call from the whole input: a
sentence's numbers then depend on what else is in the batch. Here nothing is shared between rows:

- every constant weight matrix (GRU gates, bridge, pre-output, tied output projection) is int8, one scale per
  output column; each activation row gets its own scale (its largest |value| / 127) and is multiplied in
  integers by `MatMulInteger`. Integer sums are exact, so a row's result is bit-identical whatever the
  batch and however the kernel tiles it, and the integer GEMM gets faster per row as the batch grows;
- weights use 7 bits (±63): a u8 × s8 pair sum then fits in int16, so CPUs without VNNI (AVX2's
  `vpmaddubsw` saturates at 32767) compute exactly what VNNI CPUs compute;
- the embedding tables (Gather) are int8 per row, dequantized on lookup;
- the encoder's GRU stays fp32 (ONNX Runtime has no int8 GRU).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHT_LEVELS = 63  # 7-bit symmetric weights (see above)
ACTIVATION_LEVELS = 127  # activations: uint8 = round(x / row_scale) + 128, in 1..255
ACTIVATION_ZERO = 128
TINY = np.finfo(np.float32).tiny  # the least scale: an all-zero row or column quantizes to zeros, not NaN


def _replace_nodes(graph: onnx.GraphProto, nodes: list) -> None:
    """The graph's nodes become `nodes`; initializers no node reads any more are dropped."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def gemms_as_matmuls(model: onnx.ModelProto) -> onnx.ModelProto:
    """Gemm(A, W, C) with a constant W becomes MatMul(A, W') + Add(C): the form weight-only quantizers take.

    W' is W, or W transposed for transB=1, stored as a new (K, N) initializer; the original W stays where
    another node uses it (the tied embedding is also a Gather table).
    """
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attributes.get("transA", 0) == 0 and attributes.get("alpha", 1.0) == attributes.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or node.input[1] not in initializers or not plain:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[node.input[1]])
        if attributes.get("transB", 0):
            weight = weight.T.copy()
        weight_name = f"{node.input[1]}_as_matmul"
        if weight_name not in initializers:
            initializers[weight_name] = numpy_helper.from_array(weight, weight_name)
            graph.initializer.append(initializers[weight_name])
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight_name], [product], name=f"{node.name}_matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"))
    _replace_nodes(graph, nodes)
    return model


def rowwise_int8_matmuls(model: onnx.ModelProto) -> onnx.ModelProto:
    """MatMul(x, W) with a constant (K, N) W becomes, per row of x:

        scale = max(ReduceMax(|x|) / 127, tiny)                   # (..., 1), this row's own
        x_q = uint8(Round(x / scale) + 128)                       # 1..255
        y = float(MatMulInteger(x_q, W_q, 128)) * w_scale * scale   # W_q int8 (±63), w_scale (N,)

    (Cast and two Muls: DequantizeLinear of int32 per column does the same in one node, but measured ~3×
    slower on a (160, 8000) output layer.)
    """
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    constants = {
        "rowq_axis": np.array([-1], dtype=np.int64),
        "rowq_levels": np.array(ACTIVATION_LEVELS, dtype=np.float32),
        "rowq_tiny": np.array(TINY, dtype=np.float32),
        "rowq_zero_f": np.array(ACTIVATION_ZERO, dtype=np.float32),
        "rowq_zero": np.array(ACTIVATION_ZERO, dtype=np.uint8),
    }
    nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        if weight.ndim != 2:
            nodes.append(node)
            continue
        if f"{node.input[1]}_q" not in initializers:  # a weight two MatMuls share is quantized once
            column_scale = np.maximum(np.abs(weight).max(axis=0) / WEIGHT_LEVELS, TINY)
            weight_q = np.clip(np.round(weight / column_scale), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8)
            for init in (
                numpy_helper.from_array(weight_q, f"{node.input[1]}_q"),
                numpy_helper.from_array(column_scale.astype(np.float32), f"{node.input[1]}_scale"),
            ):
                initializers[init.name] = init
                graph.initializer.append(init)
        name, x, y = node.name or f"matmul{rewritten}", node.input[0], node.output[0]
        t = lambda part: f"{name}_rowq_{part}"  # noqa: E731 - a node's intermediate names
        nodes += [
            helper.make_node("Abs", [x], [t("abs")], name=t("abs")),
            helper.make_node("ReduceMax", [t("abs"), "rowq_axis"], [t("max")], name=t("max"), keepdims=1),
            helper.make_node("Div", [t("max"), "rowq_levels"], [t("scale0")], name=t("scale0")),
            helper.make_node("Max", [t("scale0"), "rowq_tiny"], [t("scale")], name=t("scale")),
            helper.make_node("Div", [x, t("scale")], [t("scaled")], name=t("scaled")),
            helper.make_node("Round", [t("scaled")], [t("rounded")], name=t("rounded")),
            helper.make_node("Add", [t("rounded"), "rowq_zero_f"], [t("shifted")], name=t("shifted")),
            helper.make_node("Cast", [t("shifted")], [t("x_q")], name=t("x_q"), to=TensorProto.UINT8),
            helper.make_node("MatMulInteger", [t("x_q"), f"{node.input[1]}_q", "rowq_zero"], [t("int")], name=t("int")),
            helper.make_node("Cast", [t("int")], [t("float")], name=t("float"), to=TensorProto.FLOAT),
            helper.make_node("Mul", [t("float"), f"{node.input[1]}_scale"], [t("columns")], name=t("columns")),
            helper.make_node("Mul", [t("columns"), t("scale")], [y], name=t("out")),
        ]
        rewritten += 1
    if rewritten:
        graph.initializer.extend(numpy_helper.from_array(value, key) for key, value in constants.items())
    _replace_nodes(graph, nodes)
    return model


def quantize_graph(path: Path) -> None:
    """Rewrites one fp32 graph file in place as described above (temp file, then rename)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    matmuls = path.with_name(f"{path.name}.matmul")
    onnx.save(rowwise_int8_matmuls(gemms_as_matmuls(onnx.load(str(path)))), str(matmuls))
    # Gather alone: its int8 table is dequantized on lookup, no activation is quantized, so rows stay independent.
    gathers = path.with_name(f"{path.name}.int8")
    quantize_dynamic(
        str(matmuls), str(gathers), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["Gather"]
    )
    matmuls.unlink()
    os.replace(gathers, path)
