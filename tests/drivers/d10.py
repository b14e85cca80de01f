"""Scenario drivers for kata 10_optimizers: build an optimizer, feed it gradients, record.

Each driver takes the module that holds the optimizer classes (the solution, or a namespace
of torch.optim's classes for the expected side) and returns plain data. Parameters are
rebuilt with the layout of the given tensors, so a non-contiguous input gives a
non-contiguous parameter.
"""
from __future__ import annotations

import copy

import torch


def _like(t: torch.Tensor) -> torch.Tensor:
    """A fresh tensor with T's values, shape, strides, dtype and device (a tensor whose
    elements share memory, such as an expanded one, becomes a dense copy: a parameter or a
    gradient owns its elements)."""
    if any(stride == 0 and size > 1 for stride, size in zip(t.stride(), t.size())):
        return t.clone(memory_format=torch.contiguous_format)
    out = torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device=t.device)
    return out.copy_(t)


def _build(module, name, groups, kwargs):
    """(optimizer, flat list of parameters) for param groups [{'params': [tensors], **hyper}]."""
    params, spec = [], []
    for group in groups:
        ps = [_like(t).requires_grad_(True) for t in group["params"]]
        params.extend(ps)
        spec.append({**group, "params": ps})
    # A single group without overrides is passed as a plain list, as most code does.
    arg = params if len(spec) == 1 and set(groups[0]) == {"params"} else spec
    return getattr(module, name)(arg, **kwargs), params


def _set_grads(params, grads, in_place=False):
    """Give each parameter its gradient. IN_PLACE: where a parameter already has a .grad,
    write into that tensor (what zero_grad(set_to_none=False) and backward() do) instead of
    replacing it."""
    for p, g in zip(params, grads):
        if in_place and p.grad is not None and g is not None:
            p.grad.zero_()
            p.grad.add_(g)
        else:
            p.grad = None if g is None else _like(g)


def _snapshot(params):
    return [p.detach().clone() for p in params]


def trajectory(module, name, groups, grads, kwargs, lr_scales=None, in_place=False, group_updates=None):
    """Parameters after each of len(GRADS) steps: grads[t][i] is the gradient of parameter i
    (in group order) at step t, or None. LR_SCALES (optional, one number per step): before step
    t every group's lr is set to its initial lr times lr_scales[t], as a scheduler does.
    GROUP_UPDATES (optional, one dict or None per step): before step t every group is updated
    with group_updates[t] (a scheduler cycling momentum or betas).
    IN_PLACE: gradients after the first are written into the existing .grad tensors.
    Returns {'params': [[tensor per param] per step], 'grads': [[grad per param] per step, read
    back after the step], 'returned': [step() results]}."""
    opt, params = _build(module, name, groups, kwargs)
    initial_lrs = [group["lr"] for group in opt.param_groups]
    out = {"params": [], "grads": [], "returned": []}
    for t, step_grads in enumerate(grads):
        if lr_scales is not None:
            for group, lr in zip(opt.param_groups, initial_lrs):
                group["lr"] = lr * lr_scales[t]
        if group_updates is not None and group_updates[t]:
            for group in opt.param_groups:
                group.update(group_updates[t])
        _set_grads(params, step_grads, in_place)
        returned = opt.step()
        out["returned"].append(returned if returned is None or isinstance(returned, (int, float, torch.Tensor))
                               else repr(returned))
        out["params"].append(_snapshot(params))
        out["grads"].append([None if p.grad is None else p.grad.detach().clone() for p in params])
    return out


def resumed_trajectory(module, name, groups, grads, kwargs, split):
    """Like trajectory, but after SPLIT steps the optimizer's state_dict is deep-copied, a new
    optimizer is built on fresh parameters holding the current values, loads it, and runs the
    remaining steps. Returns the parameters after each step, as trajectory does."""
    opt, params = _build(module, name, groups, kwargs)
    steps = []
    for step_grads in grads[:split]:
        _set_grads(params, step_grads)
        opt.step()
        steps.append(_snapshot(params))
    saved = copy.deepcopy(opt.state_dict())          # as if written to disk and read back
    # Rebuild the same groups around the current values.
    new_groups, i = [], 0
    for group in groups:
        n = len(group["params"])
        new_groups.append({**group, "params": [params[j].detach() for j in range(i, i + n)]})
        i += n
    del opt
    opt2, params2 = _build(module, name, new_groups, kwargs)
    opt2.load_state_dict(saved)
    for step_grads in grads[split:]:
        _set_grads(params2, step_grads)
        opt2.step()
        steps.append(_snapshot(params2))
    return steps


def closure_step(module, name, param, target, kwargs, steps=1):
    """STEPS calls of step(closure) on the loss ((p - target) ** 2).sum(); the closure is the
    usual one of the torch.optim docs (no enable_grad of its own: step must provide it): zero
    the gradients, compute the loss, back-propagate it. Returns {'returned': what the last step
    returned, 'calls': how often the closure ran in all, 'param': p after the last step}."""
    opt, (p,) = _build(module, name, [{"params": [param]}], kwargs)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((p - target) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        returned = opt.step(closure)
    if isinstance(returned, torch.Tensor):
        returned = returned.detach().clone()
    elif returned is not None and not isinstance(returned, (int, float)):
        returned = repr(returned)
    return {"returned": returned, "calls": len(calls), "param": p.detach().clone()}


def rosenbrock(module, name, start, kwargs, steps):
    """STEPS calls of step(closure) on the Rosenbrock function f(x, y) = (1 - x)^2 +
    100 (y - x^2)^2 from START (a tensor of 2 values); the closure zeroes the gradient and
    back-propagates f. Returns {'losses': f before each step and after the last (steps + 1,),
    'points': (x, y) at the same moments (steps + 1, 2)}."""
    opt, (p,) = _build(module, name, [{"params": [start]}], kwargs)

    def f():
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    def closure():
        opt.zero_grad()
        loss = f()
        loss.backward()
        return loss

    points = [p.detach().clone()]
    for _ in range(steps):
        opt.step(closure)
        points.append(p.detach().clone())
    with torch.no_grad():
        losses = [(1 - q[0]) ** 2 + 100 * (q[1] - q[0] ** 2) ** 2 for q in points]
    return {"losses": torch.stack(losses), "points": torch.stack(points)}


def in_place_run(module, name, groups, grads, kwargs):
    """Like trajectory, but before the first step a second handle on every parameter's storage
    is kept (p.detach(): same memory, no copy). Returns {'params': [[p per param] per step],
    'aliases': [[the handle's values per param] per step], 'strides': [[p.stride() per param]
    per step], 'initial_strides': [p.stride() per param]}: an update made in place shows in
    the handle, one that rebinds p.data to a new tensor does not."""
    opt, params = _build(module, name, groups, kwargs)
    handles = [p.detach() for p in params]
    out = {"params": [], "aliases": [], "strides": [], "initial_strides": [list(p.stride()) for p in params]}
    for step_grads in grads:
        _set_grads(params, step_grads)
        opt.step()
        out["params"].append(_snapshot(params))
        out["aliases"].append([h.clone() for h in handles])
        out["strides"].append([list(p.stride()) for p in params])
    return out


def trajectory_with_group_added(module, name, groups, grads, kwargs, at):
    """Like trajectory, but the optimizer is built on GROUPS[0] only; GROUPS[1] joins with
    opt.add_param_group right before step AT (0-based; as when layers are unfrozen
    mid-training). Its parameters get gradients from the start (a step before AT must not move
    them). Returns the parameters (in group order) after each step."""
    opt, first = _build(module, name, groups[:1], kwargs)
    later = [_like(t).requires_grad_(True) for t in groups[1]["params"]]
    params = first + later
    out = []
    for t, step_grads in enumerate(grads):
        if t == at:
            opt.add_param_group({**groups[1], "params": later})
        _set_grads(params, step_grads)
        opt.step()
        out.append(_snapshot(params))
    return out


def zero_grad_trajectory(module, name, groups, grads, kwargs):
    """The usual training loop: per step, opt.zero_grad() (its default), backward of a loss
    that uses only the parameters whose grads[t][i] is not None, linear in each, so that
    backward gives exactly grads[t][i], then opt.step(). A parameter unused at a step keeps the
    .grad that zero_grad left it (None with torch's default). Returns the parameters after each
    step, as trajectory does."""
    opt, params = _build(module, name, groups, kwargs)
    out = []
    for step_grads in grads:
        opt.zero_grad()
        terms = [(p * g).sum() for p, g in zip(params, step_grads) if g is not None]
        if terms:
            torch.stack(terms).sum().backward()
        opt.step()
        out.append(_snapshot(params))
    return out
