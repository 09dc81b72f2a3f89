#!/usr/bin/env python3
"""Writes the fixtures into fuzz/corpus/ in the fuzz targets' input forms."""
import struct
from pathlib import Path

here = Path(__file__).resolve().parent
fixtures = here.parent / "tests" / "fixtures"
models = here / "corpus" / "load_model"
images = here / "corpus" / "decode_image"
models.mkdir(parents=True, exist_ok=True)
images.mkdir(parents=True, exist_ok=True)
for name, weights, config, pre in [
    ("hf", "tiny_hf/model.safetensors", "tiny_hf/config.json", "tiny_hf/preprocessor_config.json"),
    ("hf_bare", "tiny_hf/model.safetensors", None, None),
    ("hf_f16", "tiny_hf_f16.safetensors", "tiny_hf/config.json", None),
    ("timm", "tiny_timm/model.safetensors", "tiny_timm/config.json", None),
]:
    c = (fixtures / config).read_bytes() if config else b""
    p = (fixtures / pre).read_bytes() if pre else b""
    w = (fixtures / weights).read_bytes()
    (models / name).write_bytes(struct.pack("<II", len(c), len(p)) + c + p + w)
for f in (fixtures / "images").iterdir():
    (images / f.name).write_bytes(f.read_bytes())
