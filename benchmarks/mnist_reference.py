"""Train the kata 15 reference CNN on real MNIST and report accuracy and wall time.

Usage:  KATAS_MNIST_ROOT=/path/to/mnist .venv/bin/python benchmarks/mnist_reference.py [--epochs 3] [--batch-size 64]

KATAS_MNIST_ROOT is a folder holding MNIST/raw/t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz (the official test split). The first 8,000 images train the
reference `train_mnist`, the last 2,000 measure it: the split the hidden suite uses.
This is a script, not a test: it reports speed, the suite only asserts accuracy.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

PROJECT = Path(__file__).resolve().parent.parent


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array (big-endian header, uint8 payload)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(root: Path, stem: str) -> Path:
    for candidate in (root / "MNIST" / "raw" / stem, root / "raw" / stem, root / stem):
        for path in (candidate.with_name(candidate.name + ".gz"), candidate):
            if path.is_file():
                return path
    raise FileNotFoundError(f"no {stem}(.gz) under {root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: torch's default; the hidden suite uses 1)")
    parser.add_argument("--impl", default=str(PROJECT / "reference"), help="implementation root (default: reference/)")
    args = parser.parse_args()

    root = os.environ.get("KATAS_MNIST_ROOT")
    if not root:
        sys.exit("set KATAS_MNIST_ROOT to the folder holding MNIST/raw/t10k-*-idx*-ubyte.gz")
    if args.threads:
        torch.set_num_threads(args.threads)
    images = read_idx(find(Path(root), "t10k-images-idx3-ubyte"))
    labels = read_idx(find(Path(root), "t10k-labels-idx1-ubyte"))
    x = torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1)   # (10000, 1, 28, 28) in [0, 1]
    y = torch.from_numpy(labels.astype(np.int64))                        # (10000,)

    spec = importlib.util.spec_from_file_location("mnist_solution", Path(args.impl) / "15_cnn_mnist" / "mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    g = torch.Generator().manual_seed(args.seed)
    train = torch.utils.data.TensorDataset(x[:8000], y[:8000])
    test = torch.utils.data.TensorDataset(x[-2000:], y[-2000:])
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=g)
    test_loader = torch.utils.data.DataLoader(test, batch_size=500)
    device = torch.device("cpu")

    start = time.perf_counter()
    model = mod.train_mnist(train_loader, device, epochs=args.epochs, seed=args.seed)
    train_s = time.perf_counter() - start
    acc = mod.accuracy(model, test_loader, device)
    params = sum(p.numel() for p in model.parameters())
    print(f"MnistCNN: {params} parameters, {args.epochs} epochs, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")
    print(f"accuracy on the last 2,000 test images: {acc:.4f}")
    print(f"training wall time: {train_s:.1f} s")


if __name__ == "__main__":
    main()
