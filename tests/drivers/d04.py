"""Scenario drivers for kata 04_custom_layer: build the solution's layers, return plain data.

Every driver takes the solution's module first (kata.run passes it). The layers are built on
cpu (their constructors draw with torch's global RNG, seeded here), then moved to the device
and dtype of the input with `.to(...)`, which only converts registered parameters.
"""
from __future__ import annotations

import torch


def _tensor_or_none(t):
    return None if t is None else t.detach().clone()


def _describe(m) -> dict:
    """What the module registered: its parameters, their types, and its state_dict."""
    params = dict(m.named_parameters())
    return {
        "param_names": sorted(params),
        "param_shapes": {name: tuple(p.shape) for name, p in params.items()},
        "param_dtypes": {name: p.dtype for name, p in params.items()},
        "is_parameter": {name: isinstance(getattr(m, name, None), torch.nn.Parameter)
                         for name in ("weight", "bias")},
        "is_none": {name: getattr(m, name, "missing") is None for name in ("weight", "bias")},
        "state": {key: value.detach().clone() for key, value in m.state_dict().items()},
    }


# --------------------------------------------------------------------------- CustomLinear

def linear_registration(mod, in_features, out_features, bias, seed=0):
    """CustomLinear(in_features, out_features, bias): what it registers."""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features, bias=bias)
    return _describe(m)


def linear_forward(mod, x, in_features, out_features, bias=True, seed=0, use_default_bias=False):
    """Build a seeded CustomLinear on x's device and dtype, return its weights and m(x)."""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features) if use_default_bias else \
        mod.CustomLinear(in_features, out_features, bias=bias)
    m = m.to(device=x.device, dtype=x.dtype)
    out = m(x)
    return {"weight": _tensor_or_none(m.weight), "bias": _tensor_or_none(m.bias), "out": out.detach()}


def linear_backward(mod, x, grad_output, in_features, out_features, bias=True, seed=0):
    """m(x).backward(grad_output): the gradients of x, weight and bias."""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features, bias=bias).to(device=x.device, dtype=x.dtype)
    x = x.detach().clone().requires_grad_(True)
    m(x).backward(grad_output)
    return {
        "weight": m.weight.detach().clone(),
        "bias": _tensor_or_none(m.bias),
        "x_grad": _tensor_or_none(x.grad),
        "weight_grad": _tensor_or_none(m.weight.grad),
        "bias_grad": None if m.bias is None else _tensor_or_none(m.bias.grad),
    }


def linear_state_dict_and_output(mod, x, in_features, out_features, bias=True, seed=0):
    """The state_dict of a seeded CustomLinear (on x's device and dtype) and its output on x."""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features, bias=bias).to(device=x.device, dtype=x.dtype)
    return {"state": {k: v.detach().clone() for k, v in m.state_dict().items()}, "out": m(x).detach()}


def linear_load_state_dict(mod, state, x, in_features, out_features, bias=True):
    """CustomLinear(...).load_state_dict(state) (strict), then its output on x."""
    m = mod.CustomLinear(in_features, out_features, bias=bias).to(device=x.device, dtype=x.dtype)
    m.load_state_dict(state)
    return m(x).detach()


def linear_init(mod, in_features, out_features, seed, device, dtype=torch.float32, reset=False):
    """Weight and bias as drawn by the constructor, or (reset=True) by reset_parameters()
    after the layer was moved to DEVICE and DTYPE and its parameters were zeroed."""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features)
    if reset:
        m = m.to(device=device, dtype=dtype)
        with torch.no_grad():
            for p in m.parameters():
                p.zero_()
        torch.manual_seed(seed + 1)
        m.reset_parameters()
    return {"weight": m.weight.detach().clone(), "bias": _tensor_or_none(m.bias)}


def linear_two_layers(mod, in_features, out_features, seed):
    """Two CustomLinear built one after the other after torch.manual_seed(seed): their
    parameters, and whether building them drew from the global RNG (its state moved on)."""
    torch.manual_seed(seed)
    seeded = torch.get_rng_state()
    first = mod.CustomLinear(in_features, out_features)
    second = mod.CustomLinear(in_features, out_features)
    moved = not torch.equal(torch.get_rng_state(), seeded)
    return {"first": {"weight": first.weight.detach().clone(), "bias": first.bias.detach().clone()},
            "second": {"weight": second.weight.detach().clone(), "bias": second.bias.detach().clone()},
            "rng_moved": moved}


def linear_reset_in_place(mod, in_features, out_features, device, dtype, seed=0):
    """Does reset_parameters() keep the Parameter objects an optimizer already holds?"""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features).to(device=device, dtype=dtype)
    before = list(m.parameters())
    with torch.no_grad():
        for p in before:
            p.zero_()
    m.reset_parameters()
    after = list(m.parameters())
    return {
        "same_objects": len(before) == len(after) and all(a is b for a, b in zip(before, after)),
        "held_redrawn": [bool((p.detach() != 0).any()) for p in before],
        "dtypes": [p.dtype for p in after],
        "devices": [p.device for p in after],
    }


# ------------------------------------------------------------------------------ LayerNorm

def layernorm_registration(mod, normalized_shape, elementwise_affine=True):
    """LayerNorm(normalized_shape, elementwise_affine=...): what it registers."""
    m = mod.LayerNorm(normalized_shape, elementwise_affine=elementwise_affine)
    return _describe(m)


def layernorm_forward(mod, x, normalized_shape, eps=None, elementwise_affine=None, state=None):
    """Build LayerNorm on x's device and dtype (optionally loading STATE, strict), return m(x).

    eps / elementwise_affine are passed only when given, so the defaults are exercised too.
    """
    kwargs = {}
    if eps is not None:
        kwargs["eps"] = eps
    if elementwise_affine is not None:
        kwargs["elementwise_affine"] = elementwise_affine
    m = mod.LayerNorm(normalized_shape, **kwargs).to(device=x.device, dtype=x.dtype)
    if state is not None:
        m.load_state_dict(state)
    return m(x).detach()


def layernorm_backward(mod, x, grad_output, normalized_shape, eps, state):
    """Gradients of x and of every parameter (by name) for m(x).backward(grad_output)."""
    m = mod.LayerNorm(normalized_shape, eps=eps).to(device=x.device, dtype=x.dtype)
    m.load_state_dict(state)
    x = x.detach().clone().requires_grad_(True)
    m(x).backward(grad_output)
    grads = {name: _tensor_or_none(p.grad) for name, p in m.named_parameters()}
    return {"x_grad": _tensor_or_none(x.grad), "param_grads": grads}


# ------------------------------------------------------------ constructors called positionally

def linear_positional(mod, x, in_features, out_features, bias, seed=0):
    """CustomLinear(in_features, out_features, bias) with every argument positional, as
    nn.Linear(in, out, False) is written: its parameter names, weights and output on x."""
    torch.manual_seed(seed)
    m = mod.CustomLinear(in_features, out_features, bias).to(device=x.device, dtype=x.dtype)
    return {"param_names": sorted(name for name, _ in m.named_parameters()),
            "weight": _tensor_or_none(m.weight), "bias": _tensor_or_none(m.bias), "out": m(x).detach()}


def layernorm_positional(mod, x, normalized_shape, eps, elementwise_affine):
    """LayerNorm(normalized_shape, eps, elementwise_affine) with every argument positional, as
    nn.LayerNorm's are: its parameter names and its output on x."""
    m = mod.LayerNorm(normalized_shape, eps, elementwise_affine).to(device=x.device, dtype=x.dtype)
    return {"param_names": sorted(name for name, _ in m.named_parameters()), "out": m(x).detach()}
