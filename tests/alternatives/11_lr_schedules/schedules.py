"""A correct alternative for kata 11_lr_schedules, written unlike the reference: step_lr by
counting decays, warmup_cosine with the cosine written as cos^2 (cos^2(pi p / 2) =
(1 + cos(pi p)) / 2), WarmupCosine through the chainable _get_closed_form_lr hook (get_lr
delegates to it), and a plateau tracker that counts epochs since the best instead of bad epochs."""
from __future__ import annotations

import math

import torch


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float) -> float:
    decays = sum(1 for e in range(1, epoch + 1) if e % step_size == 0)
    return float(base_lr * math.pow(gamma, decays))


def warmup_cosine(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    if step < warmup_steps:
        return float(base_lr * (step + 1) / warmup_steps)
    decay_steps = max(1, total_steps - 1 - warmup_steps)
    p = min(step - warmup_steps, decay_steps) / decay_steps
    return float(min_lr + (base_lr - min_lr) * math.cos(math.pi * p / 2) ** 2)


class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    def __init__(self, optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0):
        self.schedule = dict(warmup_steps=warmup_steps, total_steps=total_steps, min_lr=min_lr)
        super().__init__(optimizer)

    def _get_closed_form_lr(self):
        return [warmup_cosine(self.last_epoch, lr, **self.schedule) for lr in self.base_lrs]

    def get_lr(self):
        return self._get_closed_form_lr()


class ReduceOnPlateau:
    def __init__(self, optimizer, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 min_lr: float = 0.0):
        self.optimizer, self.factor, self.patience = optimizer, factor, patience
        self.threshold, self.min_lr = threshold, min_lr
        self.best: float | None = None
        self.last_good = self.epoch = 0

    def step(self, metric: float) -> None:
        self.epoch += 1
        value = float(metric)
        if self.best is None or value < self.best - self.threshold * self.best:
            self.best, self.last_good = value, self.epoch
        if self.epoch - self.last_good > self.patience:
            for group in self.optimizer.param_groups:
                group["lr"] = max(self.min_lr, self.factor * group["lr"])
            self.last_good = self.epoch                   # count the patience again from here
