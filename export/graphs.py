"""torch -> ONNX for the graphs: the encoder, exactly one `Decoder.step`, and the step's output layer alone
(decoder state + context -> log-probabilities), which lets the page feed an edited attention's context."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import onnx
import torch

from export.verify import ExportError
from training.model import Seq2Seq

OPSET = 18
BATCH, SRC_LEN = "batch", "src_len"
ENCODER_INPUTS = ("src_ids", "src_mask")
ENCODER_OUTPUTS = ("enc_out", "keys", "hidden")
DECODER_INPUTS = ("prev_token", "hidden", "keys", "enc_out", "src_mask")
DECODER_OUTPUTS = ("log_probs", "new_hidden", "attention")
OUTPUT_INPUTS = ("hidden", "context")
OUTPUT_OUTPUTS = ("log_probs",)


class EncoderGraph(torch.nn.Module):
    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = model

    def forward(self, src_ids, src_mask):
        return self.model.encode(src_ids, src_mask)  # enc_out (B, S, 2H), keys (B, S, K), hidden (B, 2H)


class DecoderStepGraph(torch.nn.Module):
    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = model

    def forward(self, prev_token, hidden, keys, enc_out, src_mask):
        return self.model.decoder.step(prev_token, hidden, keys, enc_out, src_mask)  # (B, V), (B, 2H), (B, S)


class OutputLayerGraph(torch.nn.Module):
    """What a step does after attention: the decoder has no input feeding, so a step's context enters only
    here (pre_output on [GRU state; context], then the tied projection). Feeding it the context of edited
    weights gives that step's distribution had attention looked elsewhere."""

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = model

    def forward(self, hidden, context):
        logits = self.model.decoder.output_logits(hidden, context)  # (B, V)
        return torch.log_softmax(logits, dim=-1)


def example_inputs(model: Seq2Seq):
    """Small example batch (B=2, S=7) with one padded row; verification later uses other shapes."""
    cfg = model.config
    src_ids = torch.arange(4, 18).reshape(2, 7) % cfg.vocab_size
    src_mask = torch.ones(2, 7, dtype=torch.bool)
    src_mask[1, 5:] = False
    src_ids = src_ids.masked_fill(~src_mask, cfg.pad_id)
    with torch.no_grad():
        enc_out, keys, hidden = model.encode(src_ids, src_mask)
    prev_token = torch.full((2,), cfg.bos_id, dtype=torch.long)
    return (src_ids, src_mask), (prev_token, hidden, keys, enc_out, src_mask)


# Output dims the exporter may leave static: name -> {axis: symbolic name}
_DYNAMIC_OUTPUTS = {
    "enc_out": {0: BATCH, 1: SRC_LEN},
    "keys": {0: BATCH, 1: SRC_LEN},
    "hidden": {0: BATCH},
    "log_probs": {0: BATCH},
    "new_hidden": {0: BATCH},
    "attention": {0: BATCH, 1: SRC_LEN},
    "context": {0: BATCH},
}


def _name_dynamic_axes(model_proto: onnx.ModelProto) -> None:
    for value in list(model_proto.graph.input) + list(model_proto.graph.output):
        for axis, name in _DYNAMIC_OUTPUTS.get(value.name, {}).items():
            dim = value.type.tensor_type.shape.dim[axis]
            dim.Clear()
            dim.dim_param = name
        if value.name in ("src_ids", "src_mask"):
            for axis, name in ((0, BATCH), (1, SRC_LEN)):
                dim = value.type.tensor_type.shape.dim[axis]
                dim.Clear()
                dim.dim_param = name
    # Intermediate shapes the exporter inferred at the example size would be wrong at other sizes.
    del model_proto.graph.value_info[:]


def _strip_metadata(model_proto: onnx.ModelProto) -> None:
    """Drop per-node stack traces and names scopes: they hold file paths, so they would make the bytes
    depend on where the repository is checked out."""
    graphs = [model_proto.graph] + [f for f in model_proto.functions]
    for graph in graphs:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
    del model_proto.metadata_props[:]
    del model_proto.graph.metadata_props[:]
    model_proto.graph.doc_string = ""


def _canonical_names(model_proto: onnx.ModelProto) -> None:
    """Rename nodes and intermediate values in graph order (n0, v0, ...): the exporter's own counters
    depend on what ran before in the process, and the bytes must not."""
    graph = model_proto.graph
    keep = {v.name for v in list(graph.input) + list(graph.output)}
    renamed = {}
    for index, tensor in enumerate(graph.initializer):  # weights keep their torch names; constants get c0, c1, ...
        if tensor.name.startswith("val_"):
            renamed[tensor.name] = tensor.name = f"c{index}"
        keep.add(tensor.name)
    for index, node in enumerate(graph.node):
        node.name = f"n{index}_{node.op_type}"
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
        for i, name in enumerate(node.output):
            if name and name not in keep:
                renamed[name] = f"v{index}_{i}"
                node.output[i] = renamed[name]
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                raise ExportError(f"unexpected subgraph in {node.op_type}; the renaming pass handles flat graphs only")


def export_graph(module: torch.nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_shapes) -> None:
    """One torch.onnx.export (dynamo), weights inside the file, then symbolic batch/source axes."""
    buffer = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buffer):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            args,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_shapes=dynamic_shapes,
            dynamo=True,
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    _name_dynamic_axes(proto)
    _strip_metadata(proto)
    _canonical_names(proto)
    proto.producer_name, proto.producer_version = "bmm-seq2seq export", torch.__version__
    onnx.save_model(proto, str(path), save_as_external_data=False)


def export_graphs(model: Seq2Seq, folder: Path) -> dict:
    """Writes encoder.onnx, decoder.onnx and output.onnx into folder; returns their input/output descriptions."""
    model.eval()
    enc_args, dec_args = example_inputs(model)
    batch, src_len = torch.export.Dim(BATCH, min=1, max=1024), torch.export.Dim(SRC_LEN, min=2, max=1024)
    export_graph(
        EncoderGraph(model),
        enc_args,
        folder / "encoder.onnx",
        ENCODER_INPUTS,
        ENCODER_OUTPUTS,
        {"src_ids": {0: batch, 1: src_len}, "src_mask": {0: batch, 1: src_len}},
    )
    export_graph(
        DecoderStepGraph(model),
        dec_args,
        folder / "decoder.onnx",
        DECODER_INPUTS,
        DECODER_OUTPUTS,
        {
            "prev_token": {0: batch},
            "hidden": {0: batch},
            "keys": {0: batch, 1: src_len},
            "enc_out": {0: batch, 1: src_len},
            "src_mask": {0: batch, 1: src_len},
        },
    )
    hidden = dec_args[1]
    export_graph(
        OutputLayerGraph(model),
        (hidden, torch.ones_like(hidden) * 0.1),
        folder / "output.onnx",
        OUTPUT_INPUTS,
        OUTPUT_OUTPUTS,
        {"hidden": {0: batch}, "context": {0: batch}},
    )
    return {
        "encoder": describe(folder / "encoder.onnx"),
        "decoder": describe(folder / "decoder.onnx"),
        "output": describe(folder / "output.onnx"),
    }


def describe(path: Path) -> dict:
    """Names, element types and shapes (symbolic axes as names) of a graph's inputs and outputs."""
    proto = onnx.load(str(path), load_external_data=False)

    def values(items):
        return [
            {
                "name": v.name,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
                "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
            }
            for v in items
        ]

    return {"file": path.name, "inputs": values(proto.graph.input), "outputs": values(proto.graph.output)}
