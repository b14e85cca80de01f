"""Kata 12, a second correct solution written unlike the reference (the suite must accept it).

PairDataset normalises the index with operator.index; pad_collate pads each sequence with F.pad
and stacks; make_loader builds its own sampler and batch sampler; ClassBalancedSampler draws a
class uniformly, then a sample of that class uniformly (two stages instead of per-sample weights).
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler


class PairDataset(Dataset):
    def __init__(self, x, y):
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        self.pairs = (x, y)

    def __len__(self):
        return len(self.pairs[1])

    def __getitem__(self, i):
        i = operator.index(i)
        n = len(self)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"index {i} out of range for {n} samples")
        x, y = self.pairs
        return x[j], y[j]


def pad_collate(batch, pad_value=0.0):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([s.size(0) for s in seqs], dtype=torch.int64)
    longest = max(s.size(0) for s in seqs)
    padded = torch.stack([F.pad(s, (0, 0, 0, longest - s.size(0)), value=pad_value) for s in seqs])
    return padded, lengths, torch.tensor([int(label) for label in labels], dtype=torch.int64)


def make_loader(dataset, batch_size, shuffle, seed, drop_last=False):
    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(seed)
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last))


class ClassBalancedSampler(Sampler[int]):
    def __init__(self, labels, num_samples, generator=None):
        labels = labels.detach().to("cpu")
        self.order = torch.argsort(labels, stable=True)               # samples grouped by class
        _, self.counts = torch.unique_consecutive(labels[self.order], return_counts=True)
        self.starts = torch.cumsum(self.counts, 0) - self.counts     # first position of each class
        self.num_samples = num_samples
        self.generator = generator

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        cls = torch.randint(len(self.counts), (self.num_samples,), generator=self.generator)
        u = torch.rand(self.num_samples, generator=self.generator, dtype=torch.float64)
        offset = torch.minimum((u * self.counts[cls]).long(), self.counts[cls] - 1)
        return iter(self.order[self.starts[cls] + offset].tolist())
