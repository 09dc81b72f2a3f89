"""The native reference rows: the same ViT-B/16 folder in PyTorch eager on the CPU (transformers'
`ViTForImageClassification`), batch 1, warm median and min of 5 after one first pass, at 1 and 2
threads. Prints one JSON object per thread count.

    python tests/bench/torch_native.py target/vit-b16-random
"""

import json
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import ViTForImageClassification


def main(folder: Path) -> None:
    model = ViTForImageClassification.from_pretrained(folder, attn_implementation="eager").eval()
    size = model.config.image_size
    pixels = torch.randn(1, model.config.num_channels, size, size, generator=torch.Generator().manual_seed(0))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = []
        with torch.inference_mode():
            for _ in range(6):
                start = time.perf_counter()
                model(pixel_values=pixels)
                times.append((time.perf_counter() - start) * 1000)
        warm = times[1:]
        print(json.dumps({
            "runtime": f"PyTorch {torch.__version__} eager, native",
            "threads": threads,
            "first_ms": round(times[0]),
            "warm_median_ms": round(statistics.median(warm)),
            "warm_min_ms": round(min(warm)),
        }))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "target/vit-b16-random"))
