"""Kata 15, a second correct solution written unlike the reference (the suite must accept it).

Convolutions with max pooling (not strided convolutions), normalisation constants held as
buffers, dropout before the classifier, accuracy under inference_mode restoring every
submodule's own mode, and training seeded inside torch.random.fork_rng (the caller's RNG is
left as it was) with SGD + Nesterov momentum and a cosine schedule.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class MnistCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.1307))
        self.register_buffer("std", torch.tensor(0.3081))
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 32, 7, 7)
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 7 * 7, num_classes))

    def forward(self, x):
        return self.classifier(self.features((x - self.mean) / self.std))


def accuracy(model, loader, device):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    hits = seen = 0
    try:
        with torch.inference_mode():
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                hits += model(images).argmax(-1).eq(labels).sum().item()
                seen += labels.shape[0]
    finally:
        for m, training in modes:
            m.training = training
    return hits / seen if seen else 0.0


def train_mnist(train_loader, device, epochs=3, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MnistCNN().to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        try:
            per_epoch = len(train_loader)
        except TypeError:                             # an iterable without a length: count once
            per_epoch = sum(1 for _ in train_loader)
        steps = max(1, epochs * per_epoch)
        done = 0
        model.train()
        for _ in range(epochs):
            for images, labels in train_loader:
                for group in optimizer.param_groups:   # cosine decay from 0.05 to 0 over the run
                    group["lr"] = 0.025 * (1 + math.cos(math.pi * done / steps))
                images, labels = images.to(device), labels.to(device)
                loss = nn.functional.cross_entropy(model(images), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                done += 1
    return model
