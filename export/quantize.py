"""int8 graphs whose every row is computed on its own, so a sentence translates the same alone or in a batch.

Dynamic quantization (`quantize_dynamic`) picks one activation scale per call from the whole input: a
sentence's numbers then depend on what else is in the batch. Here the weights are int8 and nothing is
shared between rows:

- every weight matrix (GRU gates, bridge, pre-output, tied output projection) becomes a MatMulNBits with
  8-bit symmetric blocks of 32 weights; accuracy level 4 quantizes each activation row on its own (per block
  of 32 values) and multiplies in int8;
- the embedding tables (Gather) are int8 per row, dequantized on lookup;
- the encoder's GRU stays fp32 (ONNX Runtime has no int8 GRU).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import onnx
from onnx import helper, numpy_helper

BITS, BLOCK_SIZE, ACCURACY_LEVEL = 8, 32, 4  # ACCURACY_LEVEL 4: int8 activations, one scale per row and block


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
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def quantize_graph(path: Path) -> None:
    """Rewrites one fp32 graph file in place as described above (temp file, then rename)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(gemms_as_matmuls(onnx.load(str(path))), bits=BITS, block_size=BLOCK_SIZE,
                                     is_symmetric=True, accuracy_level=ACCURACY_LEVEL, op_types_to_quantize=("MatMul",))
    logger = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = logger.level
    logger.setLevel(logging.WARNING)  # it logs every node it visits at INFO
    try:
        quantizer.process()
    finally:
        logger.setLevel(level)
    matmuls = path.with_name(f"{path.name}.matmul")
    quantizer.model.save_model_to_file(str(matmuls), use_external_data_format=False)
    # Gather alone: its int8 table is dequantized on lookup, no activation is quantized, so rows stay independent.
    gathers = path.with_name(f"{path.name}.int8")
    quantize_dynamic(str(matmuls), str(gathers), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["Gather"])
    matmuls.unlink()
    os.replace(gathers, path)
