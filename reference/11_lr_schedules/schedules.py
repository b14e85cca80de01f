"""Reference for kata 11_lr_schedules: step decay, linear warmup + cosine decay, reduce on plateau."""
from __future__ import annotations

import math

import torch


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float) -> float:
    """The lr in effect at EPOCH (0-based) under StepLR: multiplied by GAMMA every STEP_SIZE epochs."""
    return base_lr * gamma ** (epoch // step_size)


def warmup_cosine(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Linear warmup to base_lr over WARMUP_STEPS steps, then cosine decay to MIN_LR at step
    TOTAL_STEPS - 1, kept afterwards."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    p = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * p)) / 2


class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    """Every param group follows warmup_cosine with its own initial lr."""

    def __init__(self, optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0):
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = min_lr
        super().__init__(optimizer)                      # sets base_lrs and applies step 0

    def get_lr(self):
        return [warmup_cosine(self.last_epoch, base_lr, self.warmup_steps, self.total_steps, self.min_lr)
                for base_lr in self.base_lrs]


class ReduceOnPlateau:
    """Multiply every group's lr by FACTOR after more than PATIENCE epochs without a relative
    improvement of the metric beyond THRESHOLD ('min' mode); never below MIN_LR."""

    def __init__(self, optimizer, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 min_lr: float = 0.0):
        self.optimizer = optimizer
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.min_lr = min_lr
        self.best = math.inf
        self.num_bad_epochs = 0

    def step(self, metric: float) -> None:
        metric = float(metric)
        if metric < self.best * (1 - self.threshold):     # a relative improvement
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                group["lr"] = max(group["lr"] * self.factor, self.min_lr)
            self.num_bad_epochs = 0                       # start counting again
