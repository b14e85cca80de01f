"""Scenario drivers for kata 03_autograd (see docs/AUTHORING.md).

grad_of, vjp and hvp take a Python callable, and LogSumExp / StraightThroughRound are
autograd.Functions: neither can cross a process boundary. So the suite names a function from
the registries below, and these drivers build the leaves, call the solution and run the
backward passes on the solution's side, returning plain data only (tensors, bools, strings,
None). Every assertion stays in tests/test_03_autograd.py.

The registry functions use plain differentiable ops only (nothing the kata forbids: they
run while the solution's frames are on the stack) and work for any shape, dtype and device.
"""
from __future__ import annotations

import contextlib

import torch
from torch.autograd.gradcheck import GradcheckError


def _ramp(x):
    """1, 2, ..., n shaped like x: fixed weights with x's dtype and device."""
    return torch.arange(1, x.numel() + 1, dtype=x.dtype, device=x.device).reshape(x.shape)


def _flat(x):
    return x.reshape(-1)


# Scalar functions whose Hessian is not zero (grad_of, hvp). Two are not separable, so their
# Hessian has off-diagonal terms: an elementwise shortcut cannot pass them.
SCALAR_FUNCTIONS = {
    "sum_of_squares": lambda x: (x * x).sum(),                                  # H = 2 I
    "sum_of_sines": lambda x: torch.sin(x).sum(),                               # H = diag(-sin x)
    "weighted_sum_of_cubes": lambda x: (_ramp(x) * x ** 3).sum() / 6,           # H = diag(ramp * x)
    "squared_norm_squared": lambda x: (x * x).sum() ** 2,                       # H = 4|x|^2 I + 8 x x^T
    "sum_of_neighbour_products": lambda x: (_flat(x) * _flat(x).roll(1)).sum(),  # H: off-diagonal only
    "log_sum_of_softplus": lambda x: torch.log1p(torch.nn.functional.softplus(x).sum()),
}

# Scalar functions that are linear in x: gradient constant, Hessian zero (hvp's edge case).
LINEAR_FUNCTIONS = {
    "sum": lambda x: x.sum(),
    "weighted_sum": lambda x: (_ramp(x) * x).sum(),
    # Linear in x, but its weights require grad (a loss closing over a model's parameters): the
    # gradient w.r.t. x is the weights, which require grad but do not depend on x.
    "sum_weighted_by_trainable_weights": lambda x: (_ramp(x).requires_grad_(True) * x).sum(),
}

# Tensor-valued functions of every output shape (vjp): v is shaped like f(x), not like x.
TENSOR_FUNCTIONS = {
    "identity": lambda x: x,
    "sine": lambda x: torch.sin(x),                                          # same shape, diagonal J
    "cumulative_sum": lambda x: torch.cumsum(x, dim=-1),                      # same shape, triangular J
    "square_then_sum_last_dim": lambda x: (x * x).sum(dim=-1),                # one dim fewer
    "outer_product": lambda x: _flat(x)[:, None] * torch.exp(_flat(x))[None, :],  # (n, n)
    "scalar": lambda x: (x ** 3).sum(),                                       # 0-d, v is 0-d
}

FUNCTIONS = {**SCALAR_FUNCTIONS, **LINEAR_FUNCTIONS, **TENSOR_FUNCTIONS}


def _clone_or_none(t):
    return None if t is None else t.detach().clone()


def _caller_tensor(t, state: str):
    """A detached copy of T in STATE: "plain" (does not require grad), "leaf" (a leaf requiring
    grad, .grad None) or "leaf_with_grad" (a leaf requiring grad whose .grad holds 0.25s)."""
    t = t.detach().clone()
    if state in ("leaf", "leaf_with_grad"):
        t.requires_grad_(True)
    if state == "leaf_with_grad":
        t.grad = torch.full_like(t, 0.25)
    elif state not in ("plain", "leaf"):
        raise ValueError(f"unknown state {state!r}")
    return t


def helper(module, op: str, f: str, x, v=None, *, x_state: str = "plain", v_state: str = "plain",
           no_grad: bool = False):
    """Call module.<op>(FUNCTIONS[f], x) or module.<op>(FUNCTIONS[f], x, v) for op in
    grad_of / vjp / hvp, and report what came back and what became of x and v.

    x_state / v_state: "plain", "leaf" or "leaf_with_grad" (see _caller_tensor).
    no_grad: make the call inside torch.no_grad(); grad_enabled_after says whether grad mode was
    still off right after the call returned, inside that block.
    """
    x = _caller_tensor(x, x_state)
    x_requires_grad_before = x.requires_grad
    x_grad_before = _clone_or_none(x.grad)
    args = (FUNCTIONS[f], x)
    if v is not None:
        v = _caller_tensor(v, v_state)
        args += (v,)
    v_requires_grad_before = None if v is None else v.requires_grad
    v_grad_before = None if v is None else _clone_or_none(v.grad)
    with torch.no_grad() if no_grad else contextlib.nullcontext():
        result = getattr(module, op)(*args)
        grad_enabled_after = torch.is_grad_enabled()
    is_tensor = isinstance(result, torch.Tensor)
    return {
        "result": result.detach() if is_tensor else result,
        "result_requires_grad": bool(is_tensor and result.requires_grad),
        "result_has_grad_fn": bool(is_tensor and result.grad_fn is not None),
        "x_after": x.detach().clone(),
        "x_requires_grad_before": x_requires_grad_before,
        "x_requires_grad_after": x.requires_grad,
        "x_grad_before": x_grad_before,
        "x_grad_after": _clone_or_none(x.grad),
        "v_after": _clone_or_none(v),
        "v_requires_grad_before": v_requires_grad_before,
        "v_requires_grad_after": None if v is None else v.requires_grad,
        "v_grad_before": v_grad_before,
        "v_grad_after": None if v is None else _clone_or_none(v.grad),
        "grad_enabled_after": grad_enabled_after,
    }


# ------------------------------------------------------------------------------ LogSumExp

def logsumexp_is_the_function(module, x, dim: int):
    """What logsumexp(x, dim) and LogSumExp.apply(x, dim) give for a leaf x requiring grad."""
    cls = getattr(module, "LogSumExp", None)
    leaf = x.detach().clone().requires_grad_(True)
    out = module.logsumexp(leaf, dim)
    applied = cls.apply(x.detach().clone().requires_grad_(True), dim)
    return {
        "is_autograd_function": isinstance(cls, type) and issubclass(cls, torch.autograd.Function),
        "grad_fn": None if out.grad_fn is None else type(out.grad_fn).__name__,
        "out": out.detach(),
        "applied": applied.detach(),
    }


def logsumexp_gradcheck(module, x, dim: int, order: int):
    """'' when torch.autograd.gradcheck (order 1) / gradgradcheck (order 2) accepts
    LogSumExp.apply(., dim) at x (float64), else gradcheck's report."""
    # gradcheck perturbs one element at a time: it refuses overlapping memory (an expanded x)
    leaf = x.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    check = {1: torch.autograd.gradcheck, 2: torch.autograd.gradgradcheck}[order]
    try:
        check(lambda t: module.LogSumExp.apply(t, dim), (leaf,), fast_mode=True)
    except GradcheckError as err:
        return str(err)
    return ""


def double_backward(apply, x, dim: int, grad_output, v):
    """First and second derivatives of y = apply(x, dim), computed the same way for the
    solution's LogSumExp.apply and for torch.logsumexp (which the test passes directly):

    g = dy/dx^T grad_output (built with create_graph=True), then the gradients of <g, v> with
    respect to x (a Hessian-vector product) and to grad_output. None entries when g does not
    require grad: the backward was not differentiable.
    """
    leaf = x.detach().clone().requires_grad_(True)
    go = grad_output.detach().clone().requires_grad_(True)
    y = apply(leaf, dim)
    (g,) = torch.autograd.grad(y, leaf, go, create_graph=True)
    # An empty x has an empty gradient: nothing to differentiate, both derivatives are zeros.
    report = {"grad": g.detach(), "backward_is_differentiable": bool(g.requires_grad) or leaf.numel() == 0,
              "d_x": torch.zeros_like(leaf), "d_grad_output": torch.zeros_like(go)}
    if not g.requires_grad and leaf.numel() > 0:
        report["d_x"] = report["d_grad_output"] = None
    elif g.requires_grad:
        d_x, d_go = torch.autograd.grad(g, (leaf, go), v, allow_unused=True)
        report["d_x"] = torch.zeros_like(leaf) if d_x is None else d_x.detach()
        report["d_grad_output"] = torch.zeros_like(go) if d_go is None else d_go.detach()
    return report


def logsumexp_double_backward(module, x, dim: int, grad_output, v):
    return double_backward(module.LogSumExp.apply, x, dim, grad_output, v)


# ---------------------------------------------------------------------- StraightThroughRound

def straight_through_round(module, x, grad_output):
    """StraightThroughRound.apply(x) for a leaf x, and the gradient it sends back to x."""
    leaf = x.detach().clone().requires_grad_(True)
    out = module.StraightThroughRound.apply(leaf)
    (g,) = torch.autograd.grad(out, leaf, grad_output, allow_unused=True)
    return {"out": out.detach(), "grad": torch.zeros_like(leaf) if g is None else g.detach(),
            "x_after": leaf.detach().clone()}
