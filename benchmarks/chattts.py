"""chattts-local throughput by batch size, on the real ChatTTS code with random weights.

The model folder is built from ChatTTS's own classes at full size (20 GPT layers, as
released) with random weights that never end speech, so every chunk takes exactly its token
count and the figures are the released model's speed for that much audio: per-token cost
does not depend on the weights' values. The same chunks go through voxline's batching (16
requests at once, gathered into lists of the batch size) for each batch size, in one run.
"""

from __future__ import annotations

import importlib.metadata
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SENTENCES = [
    "国家统计局今天发布数据显示，今年前两个月工业增加值同比增长百分之七。",
    "您好，欢迎致电客服中心，请问有什么可以帮您查询的吗？",
    "一季度国内生产总值达到二十九万亿元，同比增长百分之五点三。",
    "您的包裹预计明天下午三点前送达，请注意查收并保持电话畅通。",
]


def model_folder(layers: int) -> Path:
    from voxline.testing import chattts_assets

    versions = "-".join(importlib.metadata.version(p)
                        for p in ("chattts", "transformers", "torch"))
    root = Path(os.environ.get("VOXLINE_TEST_MODELS", Path.home() / ".cache" / "voxline-tests"))
    folder = root / f"chattts-random-{layers}l-{versions}-{chattts_assets.VERSION}"
    if not all((folder / name).is_file() for name in chattts_assets.ASSET_FILES):
        chattts_assets.build(folder, layers=layers)
    return folder


def bench_chattts(batch_sizes: list[int], chunks: int, tokens: int, layers: int,
                  device: str, rounds: int) -> dict:
    from voxline import SynthesisRequest
    from voxline.batching import BatchingBackend
    from voxline.plugins.chattts_local import TOKENS_PER_S, ChatTTSLocal

    import torch

    started = time.perf_counter()
    folder = model_folder(layers)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    backend = ChatTTSLocal({"model_dir": str(folder), "check_hashes": False, "device": device,
                            "max_new_token": tokens, "split_on_truncation": False},
                           threads=os.cpu_count() or 1)
    load_s = time.perf_counter() - started
    requests = [SynthesisRequest(SENTENCES[i % len(SENTENCES)], "zh") for i in range(chunks)]
    backend.synthesize_batch(requests[:1])  # warm-up: first-call allocations, kernels
    rows = []
    for size in batch_sizes:
        walls, audio = [], 0.0
        for _ in range(rounds):
            batcher = BatchingBackend(backend, size, linger_s=0.05)
            batcher.close = lambda: None  # the model stays loaded for the next size
            began = time.perf_counter()
            with ThreadPoolExecutor(chunks) as pool:
                produced = list(pool.map(batcher.synthesize, requests))
            walls.append(time.perf_counter() - began)
            batcher._closed = True
            with batcher._wake:
                batcher._wake.notify_all()
            audio = sum(a.duration_s for a in produced)
        wall = statistics.median(walls)
        rows.append({"batch_size": size, "chunks": chunks, "tokens_per_chunk": tokens,
                     "audio_s": round(audio, 2), "wall_s": round(wall, 2),
                     "chunks_per_s": round(chunks / wall, 3),
                     "tokens_per_s": round(chunks * tokens / wall, 1),
                     "rtf": round(wall / audio, 3)})
    backend.close()
    return {"device": str(backend.device), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "threads": torch.get_num_threads(), "layers": layers, "rounds": rounds,
            "audio_per_chunk_s": round(tokens / TOKENS_PER_S, 2),
            "build_s": round(build_s, 1), "load_s": round(load_s, 1), "rows": rows}


def print_table(result: dict) -> None:
    print(f"chattts-local on {result['device']} ({result['gpu'] or 'no GPU'}), torch "
          f"{result['torch']}, {result['threads']} threads, {result['layers']}-layer GPT, "
          f"model load {result['load_s']} s")
    print(f"{'batch':>6} {'chunks':>7} {'audio s':>8} {'wall s':>7} {'chunks/s':>9} "
          f"{'tokens/s':>9} {'RTF':>7}")
    for row in result["rows"]:
        print(f"{row['batch_size']:>6} {row['chunks']:>7} {row['audio_s']:>8} "
              f"{row['wall_s']:>7} {row['chunks_per_s']:>9} {row['tokens_per_s']:>9} "
              f"{row['rtf']:>7}")
