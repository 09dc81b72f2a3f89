#!/usr/bin/env python3
"""Writes the fixtures into fuzz/corpus/ in the fuzz targets' input forms, beside the committed
minimized corpora (fuzz/corpora/TARGET.tar.gz: `cargo fuzz cmin`'s output, files up to 64 KB; the
larger ones are these fixtures, written again here)."""
import struct
import tarfile
from pathlib import Path

here = Path(__file__).resolve().parent
fixtures = here.parent / "tests" / "fixtures"
models = here / "corpus" / "load_model"
images = here / "corpus" / "decode_image"
cifar = here / "corpus" / "read_cifar"
models.mkdir(parents=True, exist_ok=True)
images.mkdir(parents=True, exist_ok=True)
cifar.mkdir(parents=True, exist_ok=True)
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
# The small CIFAR files (the read_cifar target's name byte: 0 pickle, 1 binary, 2 tarball,
# 3 pickled meta, 4 text meta); whole batches are too big for a fuzzer to mutate usefully.
for name, which in [("hostile/small_batch.bin", 1), ("hostile/protocol5_batch", 0), ("hostile/python2_batch", 0),
                    ("hostile/int8_pickle", 0), ("hostile/dup_bomb.tar.gz", 2), ("hostile/batches.meta", 3),
                    ("batches.meta.txt", 4), ("malformed/bad_label_pickle", 0), ("malformed/partial_record.bin", 1)]:
    (cifar / name.replace("/", "_")).write_bytes(bytes([which]) + (fixtures / "cifar" / name).read_bytes())
for corpus in (here / "corpora").glob("*.tar.gz"):
    with tarfile.open(corpus) as tar:
        tar.extractall(here / "corpus", filter="data")
