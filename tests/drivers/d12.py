"""Scenario drivers for kata 12_data_loading (see docs/AUTHORING.md).

Each driver builds the solution's Dataset / DataLoader / Sampler, exercises it and returns
plain data; the assertions live in tests/test_12_data_loading.py.
"""
from __future__ import annotations

import operator

import torch
from torch.utils.data import Dataset


class IndexDataset(Dataset):
    """Sample i is the int i, so a loader's batches show the order it visits the samples in."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return i


# ----------------------------------------------------------------------------- PairDataset

def pair_dataset_len(module, x, y):
    return len(module.PairDataset(x, y))


def pair_dataset_items(module, x, y, indices):
    """[(x_i, y_i)] for each index, as the dataset returns them."""
    ds = module.PairDataset(x, y)
    out = []
    for i in indices:
        item = ds[i]
        out.append(tuple(item) if isinstance(item, (tuple, list)) else item)
    return out


def pair_dataset_batches(module, x, y, batch_size):
    """The batches torch's own DataLoader makes from the solution's dataset (in order)."""
    loader = torch.utils.data.DataLoader(module.PairDataset(x, y), batch_size=batch_size, shuffle=False)
    return [tuple(batch) for batch in loader]


def pair_dataset_is_a_dataset(module, x, y):
    return isinstance(module.PairDataset(x, y), torch.utils.data.Dataset)


# ----------------------------------------------------------------------------- make_loader

def loader_epochs(module, n, batch_size, shuffle, seed, drop_last, epochs):
    """Build one loader over IndexDataset(n); return its len and the batches of each epoch."""
    loader = module.make_loader(IndexDataset(n), batch_size, shuffle, seed, drop_last=drop_last)
    return {
        "is_dataloader": isinstance(loader, torch.utils.data.DataLoader),
        "len": len(loader),
        "epochs": [[batch.tolist() for batch in loader] for _ in range(epochs)],
    }


def rebuilt_loader_orders(module, n, batch_size, seed, global_seeds):
    """First-epoch order of a loader rebuilt with the same SEED once per entry of GLOBAL_SEEDS.

    Between building each loader and iterating it, the global RNG is reseeded with that entry
    and used (as model initialisation or augmentation would): the order must not change.
    The global RNG state is restored afterwards.
    """
    state = torch.random.get_rng_state()
    try:
        orders = []
        for g in global_seeds:
            loader = module.make_loader(IndexDataset(n), batch_size, True, seed)
            torch.manual_seed(g)
            torch.rand(5)
            orders.append([i for batch in loader for i in batch.tolist()])
        return orders
    finally:
        torch.random.set_rng_state(state)


# ------------------------------------------------------------------- ClassBalancedSampler

def sampler_draws(module, labels, num_samples, seed):
    """{'len': len(sampler), 'indices': one pass over the sampler}; SEED None means no generator."""
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    sampler = module.ClassBalancedSampler(labels, num_samples, generator=generator)
    indices = list(sampler)
    return {
        "is_sampler": isinstance(sampler, torch.utils.data.Sampler),
        "len": len(sampler),
        "indices": [operator.index(i) for i in indices],
        "index_types": sorted({type(i).__name__ for i in indices}),
    }


def balanced_loader_labels(module, labels, num_samples, batch_size, seed):
    """The labels torch's DataLoader yields when the solution's sampler picks the samples."""
    ds = _LabelDataset(labels)
    sampler = module.ClassBalancedSampler(labels, num_samples, generator=torch.Generator().manual_seed(seed))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler)
    return [batch for batch in loader]


class _LabelDataset(Dataset):
    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.labels[i]


def interleaved_loader_orders(module, n, batch_size, seeds):
    """First-epoch orders of loaders over IndexDataset(n), one per seed: 'interleaved' builds every
    loader before iterating any; 'alone' builds and iterates each in turn."""
    loaders = [module.make_loader(IndexDataset(n), batch_size, True, seed) for seed in seeds]
    interleaved = [[i for batch in loader for i in batch.tolist()] for loader in loaders]
    alone = []
    for seed in seeds:
        loader = module.make_loader(IndexDataset(n), batch_size, True, seed)
        alone.append([i for batch in loader for i in batch.tolist()])
    return {"interleaved": interleaved, "alone": alone}


def sampler_passes(module, labels, num_samples, seed, passes):
    """PASSES passes over one ClassBalancedSampler with a generator seeded SEED: [[index]] per pass."""
    sampler = module.ClassBalancedSampler(labels, num_samples, generator=torch.Generator().manual_seed(seed))
    return [[operator.index(i) for i in sampler] for _ in range(passes)]


def sampler_draws_under_global_seeds(module, labels, num_samples, global_seeds):
    """Per entry of GLOBAL_SEEDS: torch.manual_seed(entry), then ClassBalancedSampler(labels,
    num_samples) with no generator built and iterated twice, then a second one built and iterated:
    {'first': pass 1, 'again': pass 2 of the same sampler, 'next': pass 1 of the second sampler}.
    The global RNG state is restored afterwards."""
    state = torch.random.get_rng_state()
    try:
        out = []
        for g in global_seeds:
            torch.manual_seed(g)
            sampler = module.ClassBalancedSampler(labels, num_samples)
            first = [operator.index(i) for i in sampler]
            again = [operator.index(i) for i in sampler]
            following = [operator.index(i) for i in module.ClassBalancedSampler(labels, num_samples)]
            out.append({"first": first, "again": again, "next": following})
        return out
    finally:
        torch.random.set_rng_state(state)


def pair_dataset_item_types(module, x, y, indices):
    """type(ds[i]).__name__ for each index: the contract's ds[i] is a tuple."""
    ds = module.PairDataset(x, y)
    return [type(ds[i]).__name__ for i in indices]


def sampler_draws_from_an_advanced_generator(module, labels, num_samples, seed):
    """One pass of a ClassBalancedSampler given a generator seeded SEED and then used for a draw
    (its state has moved on), and one pass of a sampler given a fresh generator seeded SEED."""
    moved = torch.Generator().manual_seed(seed)
    torch.rand(8, generator=moved)
    fresh = torch.Generator().manual_seed(seed)
    return {"moved": [operator.index(i) for i in module.ClassBalancedSampler(labels, num_samples, generator=moved)],
            "fresh": [operator.index(i) for i in module.ClassBalancedSampler(labels, num_samples, generator=fresh)]}


def loader_default_drop_last(module, n, batch_size, shuffle, seed):
    """make_loader called WITHOUT drop_last: its len and its first epoch's batches."""
    loader = module.make_loader(IndexDataset(n), batch_size, shuffle, seed)
    return {"len": len(loader), "batches": [batch.tolist() for batch in loader]}


def sampler_draws_after_building(module, labels, num_samples, seed):
    """'advanced': a sampler built with a generator seeded SEED, the generator then used for a draw
    by the caller, then the sampler iterated; 'fresh': the same with no draw in between."""
    advanced = torch.Generator().manual_seed(seed)
    sampler = module.ClassBalancedSampler(labels, num_samples, generator=advanced)
    torch.rand(8, generator=advanced)
    late = [operator.index(i) for i in sampler]
    fresh = torch.Generator().manual_seed(seed)
    return {"advanced": late,
            "fresh": [operator.index(i) for i in module.ClassBalancedSampler(labels, num_samples, generator=fresh)]}
