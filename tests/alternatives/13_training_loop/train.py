"""Kata 13, a second correct solution written unlike the reference (the suite must accept it).

Gradients are zeroed when a group starts rather than after its step, the global norm is clipped
by hand, losses are summed as tensors, evaluate uses inference_mode and restores each
submodule's own mode, and fit keeps the best weights as cloned tensors.
"""
from __future__ import annotations

import torch


def _clip_(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.dtype))


def train_one_epoch(model, loader, loss_fn, optimizer, device, grad_clip=None, accumulation_steps=1):
    model.train()
    params = list(model.parameters())
    loss_sum, samples, in_group = None, 0, 0

    def step():
        if grad_clip is not None:
            _clip_(params, grad_clip)
        optimizer.step()

    for inputs, targets in loader:
        if in_group == 0:
            optimizer.zero_grad(set_to_none=True)
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        loss.div(accumulation_steps).backward()
        weighted = loss.detach() * len(targets)
        loss_sum = weighted if loss_sum is None else loss_sum + weighted
        samples += len(targets)
        in_group = (in_group + 1) % accumulation_steps
        if in_group == 0:
            step()
    if in_group:
        step()
    optimizer.zero_grad(set_to_none=True)
    return (loss_sum / samples).item()


def evaluate(model, loader, loss_fn, device):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    loss_sum, hits, samples = 0.0, 0, 0
    try:
        with torch.inference_mode():
            for inputs, targets in loader:
                inputs, targets = inputs.to(device), targets.to(device)
                out = model(inputs)
                loss_sum += float(loss_fn(out, targets)) * len(targets)
                hits += int(torch.eq(out.argmax(-1), targets).sum())
                samples += len(targets)
    finally:
        for m, training in modes:
            m.training = training
    return {"loss": loss_sum / samples, "accuracy": hits / samples}


def fit(model, train_loader, val_loader, loss_fn, optimizer, device, epochs, scheduler=None, patience=None):
    history, best, best_weights, waited = [], float("inf"), None, 0
    epoch = 0
    while epoch < epochs:
        epoch += 1
        record = {"train_loss": train_one_epoch(model, train_loader, loss_fn, optimizer, device)}
        metrics = evaluate(model, val_loader, loss_fn, device)
        record["val_loss"], record["val_accuracy"] = metrics["loss"], metrics["accuracy"]
        history.append(record)
        if scheduler is not None:
            scheduler.step()
        if patience is not None:
            if record["val_loss"] < best:
                best, waited = record["val_loss"], 0
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
            if waited >= patience:
                break
    if patience is not None and best_weights is not None:
        model.load_state_dict(best_weights)
    return history
