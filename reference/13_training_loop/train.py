"""Kata 13 · The training loop (reference solution)."""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn


def _to_device(batch, device: torch.device) -> tuple[Tensor, Tensor]:
    x, y = batch
    return x.to(device), y.to(device)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, grad_clip: float | None) -> None:
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad()


def train_one_epoch(model: nn.Module, loader: Iterable[tuple[Tensor, Tensor]], loss_fn: Callable,
                    optimizer: torch.optim.Optimizer, device: torch.device, grad_clip: float | None = None,
                    accumulation_steps: int = 1) -> float:
    """One pass over LOADER; returns the sample-weighted mean of the (unscaled) batch losses."""
    if accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}")
    model.train()
    total, count, pending = 0.0, 0, 0
    for batch in loader:
        x, y = _to_device(batch, device)              # x: (B, ...), y: (B,)
        loss = loss_fn(model(x), y)                   # mean over the batch
        (loss / accumulation_steps).backward()
        n = y.shape[0]
        total += loss.item() * n
        count += n
        pending += 1
        if pending == accumulation_steps:
            _step(model, optimizer, grad_clip)
            pending = 0
    if pending:                                       # a final, partial group
        _step(model, optimizer, grad_clip)
    if count == 0:
        raise ValueError("the loader yielded no batch")
    return total / count


def evaluate(model: nn.Module, loader, loss_fn: Callable, device: torch.device) -> dict[str, float]:
    """{'loss': sample-weighted mean loss, 'accuracy': fraction of argmax hits} over LOADER."""
    # Every submodule's own mode, not just the top one's: a BatchNorm frozen in eval inside a
    # model in train mode must stay frozen after evaluate.
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    loss_sum, hits, seen = 0.0, 0, 0
    try:
        with torch.no_grad():
            for batch in loader:
                x, y = _to_device(batch, device)
                logits = model(x)                     # (B, C)
                b = y.shape[0]
                loss_sum += loss_fn(logits, y).item() * b
                hits += int((logits.argmax(dim=-1) == y).sum())
                seen += b
    finally:
        for m, mode in modes:
            m.training = mode
    if seen == 0:
        raise ValueError("the loader yielded no batch")
    return {"loss": loss_sum / seen, "accuracy": hits / seen}


def fit(model, train_loader, val_loader, loss_fn, optimizer, device, epochs: int, scheduler=None,
        patience: int | None = None) -> list[dict[str, float]]:
    """EPOCHS of training and validation; one record per epoch. Early stopping when PATIENCE is set."""
    history = []
    best_loss, best_state, bad_epochs = math.inf, None, 0
    for _ in range(epochs):
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, device)
        val = evaluate(model, val_loader, loss_fn, device)
        history.append({"train_loss": train_loss, "val_loss": val["loss"], "val_accuracy": val["accuracy"]})
        if scheduler is not None:
            scheduler.step()
        if patience is None:
            continue
        if val["loss"] < best_loss:
            best_loss, bad_epochs = val["loss"], 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
