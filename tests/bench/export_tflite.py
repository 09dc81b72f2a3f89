"""Exports a Hugging Face layout ViT folder (model.safetensors + config.json) to TFLite for the
LiteRT.js peer benchmark: the same weights, converted by `litert-torch`, input `[batch, 3, H, W]`,
output the logits. One file per batch size (the conversion is static): `model.tflite` for batch 1
and `model-b8.tflite` for batch 8. Prints the largest logit difference from transformers.

litert-torch 0.10 needs torch below 2.15, so it runs in its own venv:

    python3 -m venv .venv-litert
    .venv-litert/bin/pip install torch==2.14.1 litert-torch==0.10.0 transformers==5.24.0
    .venv-litert/bin/python tests/bench/export_tflite.py target/vit-b16-random
"""

import sys
from pathlib import Path

import litert_torch
import torch
from transformers import ViTForImageClassification


class Logits(torch.nn.Module):
    """The classifier with its output reduced to the logits tensor."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def main(folder: Path) -> None:
    model = ViTForImageClassification.from_pretrained(folder, attn_implementation="eager").eval()
    wrapped = Logits(model).eval()
    size = model.config.image_size
    for batch, name in ((1, "model.tflite"), (8, "model-b8.tflite")):
        example = torch.randn(batch, model.config.num_channels, size, size, generator=torch.Generator().manual_seed(0))
        converted = litert_torch.convert(wrapped, (example,))
        with torch.inference_mode():
            expected = wrapped(example).numpy()
        diff = abs(converted(example) - expected).max()
        converted.export(str(folder / name))
        print(f"wrote {folder / name} (batch {batch}; max |logit - transformers| = {diff:.2e})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "target/vit-b16-random"))
