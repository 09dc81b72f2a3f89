"""Exports a Hugging Face layout ViT folder (model.safetensors + config.json) to ONNX for the peer
benchmark: the same weights, run by onnxruntime-web. Input `pixel_values` [batch, 3, H, W], output
`logits` [batch, labels], batch dynamic, opset 17.

    python tests/bench/export_onnx.py target/vit-b16-random     # writes DIR/model.onnx
"""

import sys
from pathlib import Path

import torch
from transformers import ViTForImageClassification


def main(folder: Path) -> None:
    model = ViTForImageClassification.from_pretrained(folder, attn_implementation="eager").eval()
    size = model.config.image_size
    example = torch.zeros(1, model.config.num_channels, size, size)
    torch.onnx.export(
        model,
        (example,),
        folder / "model.onnx",
        input_names=["pixel_values"],
        output_names=["logits"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"wrote {folder / 'model.onnx'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "target/vit-b16-random"))
