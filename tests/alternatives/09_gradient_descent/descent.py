"""A correct alternative for kata 09_gradient_descent, written unlike the reference: the
closed form by QR of the centred features (intercept recovered from the means), gradient
descent with autograd on one stacked parameter vector and batches from torch.split."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def fit_closed_form(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x_mean, y_mean = X.mean(dim=0), y.mean()
    Q, R = torch.linalg.qr(X - x_mean)                                # reduced QR of the centred X
    w = torch.linalg.solve_triangular(R, (Q.mT @ (y - y_mean)).unsqueeze(-1), upper=True).squeeze(-1)
    return w, y_mean - x_mean @ w


def fit_gradient_descent(X: Tensor, y: Tensor, lr: float, epochs: int, batch_size: int | None = None,
                         generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, list[float]]:
    n, d = X.shape
    theta = torch.zeros(d + 1, dtype=X.dtype, device=X.device, requires_grad=True)   # (w, b)
    history: list[float] = []
    for _epoch in range(epochs):
        perm = torch.randperm(n, generator=generator).to(X.device)
        for idx in torch.split(perm, batch_size or n):
            pred = X[idx] @ theta[:d] + theta[d]
            loss = F.mse_loss(pred, y[idx])
            (grad,) = torch.autograd.grad(loss, theta)
            with torch.no_grad():
                theta -= lr * grad
        with torch.no_grad():
            history.append(F.mse_loss(X @ theta[:d] + theta[d], y).item())
    theta = theta.detach()
    return theta[:d].clone(), theta[d].clone(), history
