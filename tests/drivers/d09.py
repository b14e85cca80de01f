"""Scenario drivers for kata 09_gradient_descent: calls that need a torch.Generator.

A generator is not plain data, so the driver builds it from a seed, calls the solution and
returns plain data: {'w': tensor, 'b': tensor, 'history': list}.
"""
from __future__ import annotations

import torch


def _result(out):
    w, b, history = out
    return {"w": w, "b": b, "history": history}


def fit_seeded(module, X, y, lr, epochs, batch_size, seed):
    """fit_gradient_descent with generator=torch.Generator().manual_seed(SEED)."""
    generator = torch.Generator().manual_seed(seed)
    return _result(module.fit_gradient_descent(X, y, lr, epochs, batch_size, generator))


def fit_seeded_under_global_seeds(module, X, y, lr, epochs, batch_size, seed, global_seeds):
    """One fit_seeded run per entry of GLOBAL_SEEDS, with torch's global RNG set to it first
    (and restored afterwards): a list of results."""
    runs = []
    with torch.random.fork_rng(devices=[]):
        for global_seed in global_seeds:
            torch.manual_seed(global_seed)
            runs.append(fit_seeded(module, X, y, lr, epochs, batch_size, seed))
    return runs


def fit_unseeded_under_global_seeds(module, X, y, lr, epochs, batch_size, global_seeds):
    """One fit_gradient_descent run with generator=None per entry of GLOBAL_SEEDS, with torch's
    global RNG set to it first (and restored afterwards): a list of results."""
    runs = []
    with torch.random.fork_rng(devices=[]):
        for global_seed in global_seeds:
            torch.manual_seed(global_seed)
            runs.append(_result(module.fit_gradient_descent(X, y, lr, epochs, batch_size)))
    return runs


def fit_twice_with_one_generator(module, X, y, lr, epochs, batch_size, seed):
    """Two successive fit_gradient_descent calls sharing one torch.Generator().manual_seed(SEED):
    a list of two results."""
    generator = torch.Generator().manual_seed(seed)
    return [_result(module.fit_gradient_descent(X, y, lr, epochs, batch_size, generator)) for _ in range(2)]


def fit_under_many_generator_seeds(module, X, y, lr, epochs, batch_size, seeds):
    """One fit_seeded run per entry of SEEDS: a list of results."""
    return [fit_seeded(module, X, y, lr, epochs, batch_size, seed) for seed in seeds]


def fit_unseeded_twice_under_global_seeds(module, X, y, lr, epochs, batch_size, global_seeds):
    """Per entry of GLOBAL_SEEDS: torch.manual_seed(it), then two successive
    fit_gradient_descent calls with generator=None (global RNG restored afterwards): a list of
    [first, second] result pairs."""
    pairs = []
    with torch.random.fork_rng(devices=[]):
        for global_seed in global_seeds:
            torch.manual_seed(global_seed)
            pairs.append([_result(module.fit_gradient_descent(X, y, lr, epochs, batch_size)) for _ in range(2)])
    return pairs
