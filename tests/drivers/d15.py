"""Scenario drivers for kata 15_cnn_mnist: build the solution's model, run accuracy and train_mnist.

Every driver takes the solution's module first (kata.run passes it) and returns plain data.
Accuracy is exercised with a fake model (a lookup table of logits) so that its expected value
is known exactly; the fake model records, at every forward, whether it was in training mode
and whether grad was enabled.
"""
from __future__ import annotations

import torch
from torch import nn


class Unmoved(torch.Tensor):
    """A batch tensor as the loader yields it: `.to(...)` gives back a plain tensor, so a model
    that receives an Unmoved tensor got a batch never moved with `.to(device)` (seen on cpu too)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return out.as_subclass(torch.Tensor)
        return super().__torch_function__(func, types, args, kwargs)


class _Scale(nn.Module):
    """A child module: its mode is recorded too (a mode set on the parent alone misses it)."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.scale = nn.Parameter(torch.ones((), dtype=table.dtype, device=table.device))
        self.inner = nn.Identity()  # a grandchild of the model: its mode is checked after accuracy too
        self.modes: list[bool] = []

    def forward(self, logits):
        self.modes.append(self.training)
        return logits * self.scale


class _LookupModel(nn.Module):
    """forward(x (B, 1, 28, 28)) -> table[ids] with ids = x[:, 0, 0, 0]: logits known in advance."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)
        self.head = _Scale(table)
        self.modes: list[bool] = []
        self.grad_enabled: list[bool] = []
        self.moved: list[bool] = []

    def forward(self, x):
        self.modes.append(self.training)
        self.grad_enabled.append(torch.is_grad_enabled())
        self.moved.append(not isinstance(x, Unmoved))
        ids = x.as_subclass(torch.Tensor)[:, 0, 0, 0].round().long()
        return self.head(self.table[ids])


def _image_batches(labels: torch.Tensor, batch_sizes) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(x, y)] on cpu: image k of the whole set is filled with the value k (its id)."""
    batches, start = [], 0
    for size in batch_sizes:
        ids = torch.arange(start, start + size, dtype=torch.float32)
        x = ids.reshape(-1, 1, 1, 1).expand(size, 1, 28, 28).contiguous()
        batches.append((x.as_subclass(Unmoved), labels[start: start + size].clone().as_subclass(Unmoved)))
        start += size
    return batches


def _plain(value):
    """A number or one-element tensor as a float (the type is reported separately); NaN otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().cpu().as_subclass(torch.Tensor).item())
    return float("nan")


def accuracy_of_lookup_model(mod, logits, labels, batch_sizes, device, start_training=False, grad_enabled=True,
                             child_training=None, grandchild_training=None, one_shot=False):
    """mod.accuracy on a lookup model giving LOGITS (M, C) for the M samples, split in BATCH_SIZES,
    called with gradient tracking GRAD_ENABLED (restored afterwards); the model in START_TRAINING
    mode, its submodule in CHILD_TRAINING mode and that submodule's own child in GRANDCHILD_TRAINING
    mode (each the same as its parent's when None)."""
    model = _LookupModel(logits.to(device))
    model.train(start_training)
    if child_training is not None:
        model.head.train(child_training)
    if grandchild_training is not None:
        model.head.inner.train(grandchild_training)
    loader = _image_batches(labels, batch_sizes)
    if one_shot:  # an Iterable that can be iterated once (a generator of batches)
        loader = (batch for batch in loader)
    before = torch.is_grad_enabled()
    try:
        torch.set_grad_enabled(grad_enabled)
        result = mod.accuracy(model, loader, device)
        grad_enabled_after = torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(before)
    return {
        "accuracy": _plain(result),
        "type": type(result).__name__,
        "is_float": isinstance(result, float),
        "modes": list(model.modes),
        "child_modes": list(model.head.modes),
        "grad_enabled": list(model.grad_enabled),
        "moved": list(model.moved),
        "training_after": model.training,
        "child_training_after": model.head.training,
        "grandchild_training_after": model.head.inner.training,
        "grad_enabled_after": grad_enabled_after,
    }


def forward(mod, x, num_classes=None, seed=0):
    """MnistCNN(num_classes) (default when None), built seeded on x's device; its output for x.

    In train mode (a fresh module's default) for a batch of at least 2 images; in eval mode for
    N < 2, where batch statistics are undefined: a correct model with a BatchNorm1d in its head
    cannot run a training-mode forward on one image (torch raises), and need not.
    """
    torch.manual_seed(seed)
    model = mod.MnistCNN() if num_classes is None else mod.MnistCNN(num_classes=num_classes)  # the catalog's name
    model = model.to(x.device).train(x.shape[0] >= 2)
    return model(x).detach()


def forward_input_after(mod, x, seed=0):
    """x after MnistCNN()(x) in train and in eval mode: must equal x before."""
    torch.manual_seed(seed)
    model = mod.MnistCNN().to(x.device)
    model(x)
    model.eval()
    with torch.no_grad():
        model(x)
    return x.detach().clone()


def parameter_count(mod, num_classes=10):
    """Number of scalar parameters of MnistCNN(num_classes), and whether it is an nn.Module."""
    model = mod.MnistCNN(num_classes)
    return {"is_module": isinstance(model, nn.Module),
            "parameters": sum(p.numel() for p in model.parameters()) if isinstance(model, nn.Module) else -1}


def train_and_predict(mod, x_train, y_train, x_test, device, batch_size=64, seed=0):
    """train_mnist on a shuffled loader over (x_train, y_train); the trained model's argmax on x_test.

    Predictions are made here (eval mode, no grad, raw [0, 1] images), not with the
    solution's accuracy(), so that this test measures train_mnist alone.
    """
    g = torch.Generator().manual_seed(seed)
    data = torch.utils.data.TensorDataset(x_train, y_train)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=g)
    model = mod.train_mnist(loader, device, seed=seed)
    is_cnn = isinstance(model, mod.MnistCNN)
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(x_test[i: i + 500].to(device)).argmax(dim=1).cpu()
                           for i in range(0, len(x_test), 500)])
    return {"predictions": preds, "is_mnist_cnn": is_cnn,
            "parameters": sum(p.numel() for p in model.parameters())}


def per_sample_logits(mod, x, seed=0):
    """MnistCNN() in eval mode: (logits of the batch X, logits of each image of X alone, stacked)."""
    torch.manual_seed(seed)
    model = mod.MnistCNN().to(x.device).eval()
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(x.shape[0])])
    return together, alone


def logits_for_layouts(mod, x, seed=0):
    """MnistCNN() in eval mode on X (any memory layout) and on a contiguous copy of X."""
    torch.manual_seed(seed)
    model = mod.MnistCNN().to(x.device).eval()
    with torch.no_grad():
        return model(x), model(x.contiguous())


def trained_parameters(mod, batches, runs, global_seeds=None):
    """For each (epochs, seed) in RUNS: the parameters of train_mnist(BATCHES, cpu, epochs, seed),
    flattened into one float64 vector. An epochs or seed of None is left out of the call (its
    default). With GLOBAL_SEEDS, torch.manual_seed(entry) and a draw precede each run (the global
    RNG state is restored afterwards)."""
    out = []
    state = torch.random.get_rng_state()
    try:
        return _trained_parameters(mod, batches, runs, global_seeds, out)
    finally:
        torch.random.set_rng_state(state)


def _trained_parameters(mod, batches, runs, global_seeds, out):
    for k, (epochs, seed) in enumerate(runs):
        if global_seeds is not None:
            torch.manual_seed(global_seeds[k])
            torch.rand(5)
        kwargs = {name: value for name, value in (("epochs", epochs), ("seed", seed)) if value is not None}
        model = mod.train_mnist([(x.clone(), y.clone()) for x, y in batches], torch.device("cpu"), **kwargs)
        out.append(torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()]))
    return out


def batches_after_training(mod, batches, epochs=1, seed=0):
    """train_mnist on BATCHES themselves (a list of (x, y) on the cpu, not copies): the batches afterwards."""
    mod.train_mnist(batches, torch.device("cpu"), epochs=epochs, seed=seed)
    return [(x.detach().clone(), y.detach().clone()) for x, y in batches]
