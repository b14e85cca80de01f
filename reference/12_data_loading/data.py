"""Reference for kata 12 · Datasets, DataLoaders, collate functions and samplers."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


class PairDataset(Dataset):
    """(x[i], y[i]) pairs: x (N, ...), y (N,)."""

    def __init__(self, x: Tensor, y: Tensor):
        super().__init__()
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a dataset of {n} samples")
        return self.x[i], self.y[i]


def pad_collate(batch: list[tuple[Tensor, int]], pad_value: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """[(seq (L_i, D), label)] * B -> (padded (B, L_max, D), lengths (B,), labels (B,))."""
    seqs = [seq for seq, _ in batch]
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.long)
    lengths = torch.tensor([seq.shape[0] for seq in seqs], dtype=torch.long)
    first = seqs[0]
    padded = first.new_full((len(seqs), int(lengths.max()), first.shape[1]), pad_value)  # (B, L_max, D)
    keep = torch.arange(padded.shape[1]) < lengths[:, None]                              # (B, L_max)
    padded[keep.to(padded.device)] = torch.cat(seqs)                                    # rows in batch order
    return padded, lengths, labels


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling depends on SEED only (never on the global RNG)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=generator)


class ClassBalancedSampler(Sampler[int]):
    """num_samples indices drawn with replacement, each class present equally likely."""

    def __init__(self, labels: Tensor, num_samples: int, generator: torch.Generator | None = None):
        labels = labels.detach().cpu()
        _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        # Each class gets total weight 1, spread uniformly over its samples.
        self.weights = 1.0 / counts[inverse].double()
        self.num_samples = num_samples
        self.generator = generator

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        picks = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=self.generator)
        yield from picks.tolist()
