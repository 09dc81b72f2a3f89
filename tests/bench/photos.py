#!/usr/bin/env python3
"""Writes a folder of photo-sized pictures for tests/bench/finetune.mjs --pictures: two classes of
32 JPEGs, 4000x3000 (12 megapixels, a phone camera's), each a smooth gradient with a large disc
or square. Seeded.
Run: .venv-ref/bin/python tests/bench/photos.py target/photos
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

out = Path(sys.argv[1])
rng = np.random.default_rng(1)
for cls in ("disc", "square"):
    (out / cls).mkdir(parents=True, exist_ok=True)
    for i in range(32):
        w, h = 4000, 3000
        g = np.linspace(0, 1, w, dtype=np.float32)[None, :, None] * rng.integers(60, 200, 3)[None, None, :]
        img = np.broadcast_to(g + np.linspace(0, 60, h, dtype=np.float32)[:, None, None], (h, w, 3)).clip(0, 255).astype(np.uint8)
        im = Image.fromarray(img)
        d = ImageDraw.Draw(im)
        cx, cy, r = int(rng.integers(1000, 3000)), int(rng.integers(800, 2200)), int(rng.integers(400, 700))
        if cls == "disc":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(230, 40, 40))
        else:
            d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=(40, 200, 60))
        im.save(out / cls / f"{cls}_{i:02d}.jpg", quality=90)
