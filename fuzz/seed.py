#!/usr/bin/env python3
"""Writes the fixtures into fuzz/corpus/ in the fuzz targets' input forms, beside the committed
minimized corpora (fuzz/corpora/TARGET.tar.gz: `cargo fuzz cmin`'s output, files up to 64 KB; the
larger ones are these fixtures, written again here)."""
import io
import struct
import tarfile
import zipfile
from pathlib import Path

here = Path(__file__).resolve().parent
fixtures = here.parent / "tests" / "fixtures"
models = here / "corpus" / "load_model"
images = here / "corpus" / "decode_image"
cifar = here / "corpus" / "read_cifar"
pictures = here / "corpus" / "read_pictures"
for corpus in (models, images, cifar, pictures):
    corpus.mkdir(parents=True, exist_ok=True)
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
# Small archives of class folders, in each kind the read_pictures target reads, and a bad one.
members = {"p/round/disc.png": "disc_rgba.png", "p/grey/g.png": "grey.png", "p/grey/notes.txt": None, "p/.DS_Store": None}
def content(source):
    return (fixtures / "images" / source).read_bytes() if source else b"not a picture"
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for name, source in members.items():
        z.writestr(name, content(source))
(pictures / "pictures.zip").write_bytes(buf.getvalue())
for name, mode in (("pictures.tar", "w"), ("pictures.tar.gz", "w:gz")):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.USTAR_FORMAT) as t:
        for member, source in members.items():
            data = content(source)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    (pictures / name).write_bytes(buf.getvalue())
(pictures / "not_a_zip.zip").write_bytes((fixtures / "pictures_hostile" / "not_a_zip.zip").read_bytes())
for corpus in (here / "corpora").glob("*.tar.gz"):
    with tarfile.open(corpus) as tar:
        tar.extractall(here / "corpus", filter="data")
