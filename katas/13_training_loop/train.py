"""Kata 13 · The training loop.

Write the three functions every PyTorch project has: one epoch of training, an evaluation
pass, and a `fit` loop with a scheduler and early stopping. Shapes used below:
x (B, ...) a batch of inputs, y (B,) int64 class labels, model(x) -> logits (B, C),
loss_fn(logits, y) -> 0-d tensor, the MEAN loss over the batch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn


def train_one_epoch(model: nn.Module, loader: Iterable[tuple[Tensor, Tensor]], loss_fn: Callable,
                    optimizer: torch.optim.Optimizer, device: torch.device, grad_clip: float | None = None,
                    accumulation_steps: int = 1) -> float:
    """One pass over LOADER, training MODEL; returns the epoch's mean loss as a Python float.

    - put the model in train mode; move x (B, ...) and y (B,) of every batch to DEVICE;
    - divide each batch's loss by ACCUMULATION_STEPS before backward();
    - optimizer.step() once every ACCUMULATION_STEPS batches, and once more for a final
      partial group, zeroing the gradients after each step (with equal batch sizes the
      update equals one step on the concatenation of the group's batches);
    - when GRAD_CLIP is set, clip the global gradient norm (all parameters together) to
      GRAD_CLIP right before each step;
    - return the sample-weighted mean of the unscaled batch losses (the last batch may be
      smaller than the others).
    """
    raise NotImplementedError("train_one_epoch: model.train(); for each (x, y): move to device, "
                              "loss / accumulation_steps, backward, step + zero_grad every "
                              "accumulation_steps batches; return the per-sample mean loss")


def evaluate(model: nn.Module, loader, loss_fn: Callable, device: torch.device) -> dict[str, float]:
    """{'loss': mean loss over all samples, 'accuracy': fraction of samples whose logits'
    argmax equals the label}, both Python floats.

    Runs the model in eval mode without gradient tracking, moves every batch to DEVICE, and
    puts the model back in the train/eval mode it had before the call.
    """
    raise NotImplementedError("evaluate: remember the mode, model.eval(), torch.no_grad(), "
                              "per-sample loss and accuracy, restore the mode")


def fit(model, train_loader, val_loader, loss_fn, optimizer, device, epochs: int, scheduler=None,
        patience: int | None = None) -> list[dict[str, float]]:
    """Train for EPOCHS epochs; returns one dict per epoch with 'train_loss', 'val_loss' and
    'val_accuracy' (Python floats).

    Each epoch: train_one_epoch on TRAIN_LOADER, evaluate on VAL_LOADER, then
    scheduler.step() once when a SCHEDULER is given. When PATIENCE is set, stop after
    PATIENCE consecutive epochs without a (strictly) lower val_loss than the best so far, and
    load the best epoch's weights back into MODEL before returning.
    """
    raise NotImplementedError("fit: loop over epochs (train, evaluate, record, scheduler.step()); "
                              "with patience, keep a copy of the best weights and stop early")
