"""Kata 11 · Learning-rate scheduling.

Forbidden here: torch.optim.lr_scheduler.StepLR, CosineAnnealingLR, LinearLR, SequentialLR,
ReduceLROnPlateau, OneCycleLR. (Subclassing torch.optim.lr_scheduler.LRScheduler is allowed.)
"""
from __future__ import annotations

import math

import torch


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float) -> float:
    """The learning rate in effect at EPOCH (0-based), as torch's StepLR gives it.

    The lr starts at base_lr and is multiplied by gamma every step_size epochs.
    Returns a Python float.
    """
    raise NotImplementedError("count how many full step_size periods lie before epoch and decay base_lr that often")


def warmup_cosine(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Linear warmup, then cosine decay to min_lr. Returns a Python float.

    step < warmup_steps:  base_lr * (step + 1) / warmup_steps
    otherwise:            min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2,
                          p = min(1, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    so min_lr is reached at step total_steps - 1 and kept afterwards.
    """
    raise NotImplementedError("return the warmup value while step < warmup_steps, else the clamped cosine")


class WarmupCosine(torch.optim.lr_scheduler.LRScheduler):
    """LRScheduler: each param group follows warmup_cosine with its own initial lr.

    Right after construction the optimizer holds the step-0 lrs; after k calls of step(),
    the step-k lrs.
    """

    def __init__(self, optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0):
        raise NotImplementedError("store the settings, then call super().__init__(optimizer)")

    def get_lr(self):
        raise NotImplementedError("one lr per param group for step self.last_epoch, from self.base_lrs")


class ReduceOnPlateau:
    """Reduce every group's lr by `factor` when the metric stops improving ('min' mode).

    step(metric): the metric improves when metric < best * (1 - threshold). After more than
    `patience` epochs in a row without improvement, lr <- max(lr * factor, min_lr) in every
    param group, and the count of bad epochs starts again from zero.
    """

    def __init__(self, optimizer, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 min_lr: float = 0.0):
        raise NotImplementedError("keep the optimizer and settings; best = inf, no bad epochs yet")

    def step(self, metric: float) -> None:
        raise NotImplementedError("update best / the bad-epoch count, reduce the lrs when it exceeds patience")
