"""Kata 12 · Datasets, DataLoaders, collate functions and samplers.

Fill in the four pieces of a data pipeline below. torch.utils.data's DataLoader, Dataset,
Sampler and RandomSampler are yours to use; TensorDataset, WeightedRandomSampler and
torch.nn.utils.rnn.pad_sequence are forbidden here (see README.md): write those parts yourself.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


class PairDataset(Dataset):
    """A map-style dataset of (x[i], y[i]) pairs.

    x: (N, ...) features, y: (N,) targets, on any device, any dtype.
    Raises ValueError when x and y do not have the same number of samples N.
    """

    def __init__(self, x: Tensor, y: Tensor):
        super().__init__()
        raise NotImplementedError("PairDataset.__init__: check that x and y have the same length N, keep them")

    def __len__(self) -> int:
        """N, the number of samples."""
        raise NotImplementedError("PairDataset.__len__: return the number of samples N")

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(x[i], y[i]); negative i counts from the end; IndexError outside [-N, N)."""
        raise NotImplementedError("PairDataset.__getitem__: return (x[i], y[i]), IndexError outside [-N, N)")


def pad_collate(batch: list[tuple[Tensor, int]], pad_value: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Collate variable-length sequences into one padded batch.

    batch: B pairs (seq, label), seq of shape (L_i, D) (same D and dtype for all), label an int.
    Returns, in batch order (never sorted):
      padded  (B, L_max, D)  seq i in padded[i, :L_i], pad_value in padded[i, L_i:]; seq's dtype and device
      lengths (B,) int64     the original L_i
      labels  (B,) int64
    """
    raise NotImplementedError("pad_collate: build a (B, L_max, D) tensor full of pad_value, copy each sequence in, "
                              "return (padded, lengths, labels)")


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False) -> DataLoader:
    """A DataLoader over DATASET whose order depends on SEED alone.

    The same seed gives the same order every time the loader is built, whatever happened to
    the global RNG in between; successive epochs of one loader give different orders when
    shuffle is on. drop_last drops a final batch smaller than batch_size.
    """
    raise NotImplementedError("make_loader: return a DataLoader that shuffles with its own seeded torch.Generator")


class ClassBalancedSampler(Sampler[int]):
    """Yields num_samples dataset indices, drawn with replacement, every class equally likely.

    labels: (N,) int64 class of each sample (any device); with K distinct classes present,
    each drawn index belongs to any given class with probability 1/K. Draws use GENERATOR
    when one is given, so a seeded generator makes the draws reproducible; without one they come
    from torch's global RNG (as torch's own samplers), so torch.manual_seed makes them reproducible.
    """

    def __init__(self, labels: Tensor, num_samples: int, generator: torch.Generator | None = None):
        super().__init__()
        raise NotImplementedError("ClassBalancedSampler.__init__: give each sample the weight 1 / (size of its class)")

    def __len__(self) -> int:
        """num_samples."""
        raise NotImplementedError("ClassBalancedSampler.__len__: return num_samples")

    def __iter__(self):
        """num_samples indices in [0, N), drawn with replacement."""
        raise NotImplementedError("ClassBalancedSampler.__iter__: draw num_samples weighted indices with the generator")
