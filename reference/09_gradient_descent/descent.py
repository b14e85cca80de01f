"""Reference for kata 09_gradient_descent: least squares in closed form and by gradient descent."""
from __future__ import annotations

import torch
from torch import Tensor


def fit_closed_form(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares (w, b) for y ≈ X @ w + b, for a full-rank X.

    X: (N, D), y: (N,) -> w: (D,), b: () in X's dtype and on X's device.
    """
    ones = torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)
    A = torch.cat([X, ones], dim=1)                                  # (N, D+1): the intercept column
    theta = torch.linalg.solve(A.mT @ A, A.mT @ y)                   # (D+1,): the normal equations
    return theta[:-1], theta[-1]


def _mse(X: Tensor, y: Tensor, w: Tensor, b: Tensor) -> float:
    return float(((X @ w + b - y) ** 2).mean())


def fit_gradient_descent(X: Tensor, y: Tensor, lr: float, epochs: int, batch_size: int | None = None,
                         generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, list[float]]:
    """Gradient descent on the mean squared error of y ≈ X @ w + b, from w = 0, b = 0.

    X: (N, D), y: (N,) -> w: (D,), b: (), history: one full-data MSE per epoch.
    """
    n, d = X.shape
    w = torch.zeros(d, dtype=X.dtype, device=X.device)              # (D,)
    b = torch.zeros((), dtype=X.dtype, device=X.device)             # ()
    size = n if batch_size is None else batch_size
    history = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(X.device)  # a fresh order every epoch
        for start in range(0, n, size):
            idx = order[start:start + size]
            Xb, yb = X[idx], y[idx]                                  # (B, D), (B,)
            residual = Xb @ w + b - yb                               # (B,)
            grad_w = 2 * (Xb.mT @ residual) / len(idx)               # d mean(r^2) / dw
            grad_b = 2 * residual.sum() / len(idx)                   # d mean(r^2) / db
            w = w - lr * grad_w
            b = b - lr * grad_b
        history.append(_mse(X, y, w, b))
    return w, b, history
