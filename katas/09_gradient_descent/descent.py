"""Kata 09 · Linear regression: closed form, batch, stochastic and mini-batch gradient descent.

Model: y ≈ X @ w + b, fitted by least squares (mean squared error).
Forbidden here: torch.optim.SGD, torch.linalg.lstsq, torch.linalg.pinv.
"""
from __future__ import annotations

import torch
from torch import Tensor


def fit_closed_form(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares weights and intercept, exactly (X has full column rank).

    X: (N, D) features, y: (N,) targets.
    Returns (w, b): w (D,) and b () — a 0-d tensor — in X's dtype, on X's device, that
    minimise mean((X @ w + b - y) ** 2). Use the normal equations or a QR factorisation
    of X with a column of ones appended.
    """
    raise NotImplementedError("append a column of ones to X and solve the least-squares problem "
                              "(normal equations or QR); return (w, b)")


def fit_gradient_descent(X: Tensor, y: Tensor, lr: float, epochs: int, batch_size: int | None = None,
                         generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, list[float]]:
    """Gradient descent on the mean squared error, from w = 0 and b = 0.

    X: (N, D), y: (N,), lr: step size, epochs: passes over the data.
    batch_size: None = the whole set per update (batch GD), 1 = stochastic GD, k = mini-batches
        of k samples (the last one may be smaller). One update per batch.
    generator: a CPU torch.Generator; every epoch starts by shuffling the samples with it
        (torch's global RNG when None).
    Each update: r = X_b @ w + b - y_b   # (B,)
                 w -= lr * d mean(r**2) / dw,   b -= lr * d mean(r**2) / db
    Returns (w (D,), b (), history): history[e] is the full-data MSE after epoch e, a Python float.
    """
    raise NotImplementedError("start from zeros; each epoch: shuffle with generator, split into batches, "
                              "take one mean-gradient step per batch; record the full-data MSE")
