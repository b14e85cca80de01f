"""Scenario drivers for kata 13_training_loop (see docs/AUTHORING.md).

Each driver builds a tiny linear classifier from given weights, loaders of given batches, a
spy loss (cross-entropy) and a spy SGD optimizer, calls the solution's train_one_epoch /
evaluate / fit, and returns what the spies saw as plain data; assertions live in
tests/test_13_training_loop.py.

Batches are handed over as `Unmoved` tensors: a tensor subclass whose `.to(...)` returns a
plain tensor. A model or loss that receives an `Unmoved` tensor therefore got a batch that
was never moved with `.to(device)`, which shows on a CPU-only machine too.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Unmoved(torch.Tensor):
    """A batch tensor as the loader yields it: `.to(...)` gives back a plain tensor."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return out.as_subclass(torch.Tensor)
        return super().__torch_function__(func, types, args, kwargs)


def _unmoved(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().clone().as_subclass(Unmoved)


def _seen(t: torch.Tensor, device: torch.device) -> dict:
    return {"moved": not isinstance(t, Unmoved), "device": str(t.device), "on_device": t.device == device}


class _Linear(nn.Module):
    """nn.Linear holding the given weights (without nn.Linear's random init: cheaper), followed
    by a parameterless submodule: the model is nested two deep (model -> linear -> act), as a
    real model's blocks hold layers. Like a BatchNorm, it holds a buffer that training changes:
    num_batches_tracked counts the forward passes made in train mode (part of the state_dict,
    not of the parameters)."""

    def __init__(self, weight, bias):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = nn.Parameter(bias.detach().clone())
        self.act = nn.Identity()
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long, device=weight.device))

    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        return self.act(F.linear(x, self.weight, self.bias))


class SpyModel(nn.Module):
    """x @ weight.T + bias, recording the mode, grad mode and batch seen by each forward."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, device: torch.device):
        super().__init__()
        self.linear = _Linear(weight.to(device), bias.to(device))
        self.device = device
        self.calls = []

    def forward(self, x):
        self.calls.append({"training": self.training, "child_training": self.linear.training,
                           "grandchild_training": self.linear.act.training,
                           "grad_enabled": torch.is_grad_enabled(), "batch": int(x.shape[0]),
                           **_seen(x, self.device)})
        return self.linear(x)

    def params(self):
        return [self.linear.weight.detach().clone(), self.linear.bias.detach().clone()]

    def grads(self):
        return [None if p.grad is None else p.grad.detach().clone() for p in (self.linear.weight, self.linear.bias)]


class SpyLoss:
    """Mean cross-entropy, recording each call. With SCRIPT (a list of floats) and a counting
    validation loader, a call made while that loader is being iterated returns SCRIPT[pass]
    instead, so a test decides the validation loss of every epoch."""

    def __init__(self, device, script=None, val_loader=None):
        self.device = device
        self.script = script
        self.val_loader = val_loader
        self.calls = []

    def __call__(self, output, target):
        self.calls.append({"grad_enabled": torch.is_grad_enabled(), "batch": int(target.shape[0]),
                           **_seen(target, self.device)})
        loss = F.cross_entropy(output, target)
        if self.script is not None and self.val_loader is not None and self.val_loader.active:
            value = self.script[min(self.val_loader.passes, len(self.script)) - 1]
            return loss * 0 + value
        return loss


class SpyOptimizer(torch.optim.SGD):
    """Plain SGD recording, at each step, the gradients and learning rate it used and the
    parameters it left."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = []

    @torch.no_grad()
    def step(self, closure=None):
        params = [p for group in self.param_groups for p in group["params"]]
        record = {"grads": [None if p.grad is None else p.grad.detach().clone() for p in params],
                  "lr": float(self.param_groups[0]["lr"])}
        out = super().step(closure)
        record["params"] = [p.detach().clone() for p in params]
        self.steps.append(record)
        return out


class CountingLoader:
    """Yields the given batches; counts passes and knows whether it is being iterated."""

    def __init__(self, batches, probe=None):
        self.batches = batches
        self.passes = 0
        self.active = False
        self.probe = probe              # called at the start of each pass; its values kept in .probed
        self.probed = []

    def __iter__(self):
        self.passes += 1
        if self.probe is not None:
            self.probed.append(self.probe())
        self.active = True
        try:
            yield from self.batches
        finally:
            self.active = False


class SpyScheduler(torch.optim.lr_scheduler.LambdaLR):
    """lr = lr0 * gamma ** (number of step() calls), counting the calls made after construction."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer, lambda epoch: gamma ** epoch)
        self.calls = 0

    def step(self, *args, **kwargs):
        if hasattr(self, "calls"):
            self.calls += 1
        return super().step(*args, **kwargs)


class Batches:
    """The given batches, as an iterable without __len__: the contract's loader is any
    iterable of (x, y) (an iterable-style DataLoader has no length either)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def _loader(batches, one_shot=False):
    """The batches as a re-iterable loader, or with ONE_SHOT as a one-shot iterator (a
    generator streaming batches: the contract's loader is any iterable, gone over once)."""
    moved = [(_unmoved(x), _unmoved(y)) for x, y in batches]
    return (batch for batch in moved) if one_shot else Batches(moved)


def _plain(value):
    """A number or 0-d tensor as a float (NaN otherwise); the type's name kept separately."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().cpu().item())
    return float("nan")


# ------------------------------------------------------------------------------ drivers

def train_epoch(module, weight, bias, batches, device, lr, *, grad_clip=None, accumulation_steps=None,
                start_training=False, split_groups=False, one_shot=False, frozen_bias=False):
    """train_one_epoch on SpyModel(weight, bias) with SGD(lr) over BATCHES [(x, y)], the model
    starting in train mode when START_TRAINING. With SPLIT_GROUPS the optimizer has two param
    groups (weight, then bias; same lr), as when weight decay is set per group; with ONE_SHOT
    the loader is a one-shot iterator; with FROZEN_BIAS the bias has requires_grad=False (its
    .grad stays None; the optimizer still holds it, as when fine-tuning). Returns {'returned': float value,
    'returned_type': type name, 'forward': [model call records], 'loss_calls': [...],
    'steps': [{'grads', 'lr', 'params'}], 'params': [weight, bias] after, 'training_after',
    'grads_after': [weight.grad, bias.grad] after (None where None)}."""
    model = SpyModel(weight, bias, device)
    model.train(start_training)
    if frozen_bias:
        model.linear.bias.requires_grad_(False)
    if split_groups:
        optimizer = SpyOptimizer([{"params": [model.linear.weight]}, {"params": [model.linear.bias]}], lr=lr)
    else:
        optimizer = SpyOptimizer(model.parameters(), lr=lr)
    loss_fn = SpyLoss(device)
    kwargs = {}
    if grad_clip is not None:
        kwargs["grad_clip"] = grad_clip
    if accumulation_steps is not None:
        kwargs["accumulation_steps"] = accumulation_steps
    returned = module.train_one_epoch(model, _loader(batches, one_shot), loss_fn, optimizer, device, **kwargs)
    return {"returned": _plain(returned), "returned_type": type(returned).__name__,
            "forward": model.calls, "loss_calls": loss_fn.calls, "steps": optimizer.steps,
            "params": model.params(), "training_after": model.training, "grads_after": model.grads()}


def evaluate(module, weight, bias, batches, device, *, start_training=True, grad_enabled=True,
             child_training=None, grandchild_training=None, one_shot=False):
    """evaluate on SpyModel(weight, bias) over BATCHES, called with gradient tracking GRAD_ENABLED;
    with CHILD_TRAINING given, the model's child is set to that mode after the model to START_TRAINING
    (a frozen BatchNorm left in eval inside a model in train mode, or the reverse), and then with
    GRANDCHILD_TRAINING the child's own submodule; with ONE_SHOT the loader is a one-shot iterator.
    Returns {'result': {key: float}, 'result_keys', 'result_types', 'forward', 'loss_calls',
    'training_after', 'child_training_after', 'grandchild_training_after', 'params', 'grads',
    'grad_enabled_after'}."""
    model = SpyModel(weight, bias, device)
    model.train(start_training)
    if child_training is not None:
        model.linear.train(child_training)
    if grandchild_training is not None:
        model.linear.act.train(grandchild_training)
    loss_fn = SpyLoss(device)
    before = torch.is_grad_enabled()
    try:
        torch.set_grad_enabled(grad_enabled)
        result = module.evaluate(model, _loader(batches, one_shot), loss_fn, device)
        grad_enabled_after = torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(before)
    keys = sorted(str(k) for k in result) if isinstance(result, dict) else []
    return {"result": {k: _plain(result[k]) for k in keys},
            "result_types": {k: type(result[k]).__name__ for k in keys},
            "result_is_dict": isinstance(result, dict),
            "forward": model.calls, "loss_calls": loss_fn.calls, "training_after": model.training,
            "child_training_after": model.linear.training, "grandchild_training_after": model.linear.act.training,
            "params": model.params(), "grads": model.grads(),
            "grad_enabled_after": grad_enabled_after}


def fit(module, weight, bias, train_batches, val_batches, device, epochs, lr, *, gamma=None, patience=None,
        val_script=None):
    """fit on SpyModel(weight, bias) with SGD(lr), a SpyScheduler(gamma) when GAMMA is given,
    PATIENCE when given, and, with VAL_SCRIPT, the validation loss of epoch e forced to
    VAL_SCRIPT[e]. Returns {'records': [{key: float}], 'record_keys': [[keys]], 'steps',
    'params', 'batches_tracked' (the model's buffer after fit), 'tracked_at_validation' (that buffer at
    the start of each validation pass), 'scheduler_calls', 'val_passes'}."""
    model = SpyModel(weight, bias, device)
    optimizer = SpyOptimizer(model.parameters(), lr=lr)
    val_loader = CountingLoader(_loader(val_batches), probe=lambda: int(model.linear.num_batches_tracked))
    loss_fn = SpyLoss(device, script=val_script, val_loader=val_loader)
    kwargs = {}
    scheduler = None
    if gamma is not None:
        scheduler = kwargs["scheduler"] = SpyScheduler(optimizer, gamma)
    if patience is not None:
        kwargs["patience"] = patience
    records = module.fit(model, _loader(train_batches), val_loader, loss_fn, optimizer, device, epochs, **kwargs)
    records = list(records) if isinstance(records, (list, tuple)) else []
    return {"records": [{str(k): _plain(v) for k, v in r.items()} if isinstance(r, dict) else {} for r in records],
            "steps": optimizer.steps, "params": model.params(),
            "batches_tracked": int(model.linear.num_batches_tracked),
            "tracked_at_validation": val_loader.probed, "scheduler_calls": None if scheduler is None else scheduler.calls, "val_passes": val_loader.passes}


def fit_learnable(module, x_train, y_train, x_val, y_val, device, epochs, lr, batch_size):
    """fit on a fresh nn.Linear (seeded) with SGD, over torch DataLoaders of the given data.
    Returns the list of epoch records."""
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = nn.Linear(x_train.shape[1], int(y_train.max()) + 1).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=False)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=batch_size, shuffle=False)
    records = module.fit(model, train, val, nn.CrossEntropyLoss(), optimizer, device, epochs)
    return [{str(k): _plain(v) for k, v in r.items()} for r in records]
