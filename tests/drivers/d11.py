"""Scenario drivers for kata 11_lr_schedules: build a scheduler on a real optimizer, step it, record.

Each driver takes the module holding the scheduler classes (the solution, or a namespace of
torch-based equivalents for the expected side) and returns plain data: lists of floats.
The optimizer is torch.optim.SGD with one parameter per group and group g's lr = base_lrs[g].
"""
from __future__ import annotations

import io

import torch


def _optimizer(base_lrs):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in base_lrs]
    return torch.optim.SGD(groups, lr=base_lrs[0])


def _lrs(opt):
    return [float(group["lr"]) for group in opt.param_groups]


def warmup_cosine_run(module, base_lrs, warmup_steps, total_steps, min_lr, n_steps):
    """Build WarmupCosine(opt, warmup_steps=..., total_steps=..., min_lr=...), then N_STEPS
    times: opt.step(); scheduler.step(). Returns {'lrs': group lrs right after construction and
    after each step (n_steps + 1 lists), 'last_lr': get_last_lr() at the same moments,
    'is_lr_scheduler': isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)}."""
    opt = _optimizer(base_lrs)
    sched = module.WarmupCosine(opt, warmup_steps=warmup_steps, total_steps=total_steps, min_lr=min_lr)
    out = {"lrs": [_lrs(opt)], "last_lr": [[float(v) for v in sched.get_last_lr()]],
           "is_lr_scheduler": isinstance(sched, torch.optim.lr_scheduler.LRScheduler)}
    for _ in range(n_steps):
        opt.step()
        sched.step()
        out["lrs"].append(_lrs(opt))
        out["last_lr"].append([float(v) for v in sched.get_last_lr()])
    return out


def plateau_run(module, base_lrs, metrics, kwargs, lr_scales=None, added_group=None):
    """Build ReduceOnPlateau(opt, **KWARGS), call step(m) for each m in METRICS. LR_SCALES
    (optional, one number per metric): before step t every group's current lr is multiplied by
    lr_scales[t], as the user or another scheduler may do. ADDED_GROUP (optional, (t, lr)):
    before step t a new param group with that lr is added with opt.add_param_group (as when
    layers are unfrozen mid-training). Returns the group lrs after each step (a list of
    len(metrics) lists)."""
    opt = _optimizer(base_lrs)
    sched = module.ReduceOnPlateau(opt, **kwargs)
    out = []
    for t, m in enumerate(metrics):
        if added_group is not None and t == added_group[0]:
            opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": added_group[1]})
        if lr_scales is not None:
            for group in opt.param_groups:
                group["lr"] *= lr_scales[t]
        opt.step()
        sched.step(m)
        out.append(_lrs(opt))
    return out


def warmup_cosine_resumed(module, base_lrs, warmup_steps, total_steps, min_lr, n_steps, split):
    """WarmupCosine stepped SPLIT times (opt.step(); scheduler.step()); then the optimizer's and
    the scheduler's state_dicts are written with torch.save and read back with torch.load (a
    checkpoint), a new optimizer and a new WarmupCosine load them, and the remaining
    N_STEPS - SPLIT steps run on those. Returns the group lrs after each of the N_STEPS steps."""
    def build():
        opt = _optimizer(base_lrs)
        return opt, module.WarmupCosine(opt, warmup_steps=warmup_steps, total_steps=total_steps, min_lr=min_lr)

    opt, sched = build()
    out = []
    for _ in range(split):
        opt.step()
        sched.step()
        out.append(_lrs(opt))
    buffer = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=False)
    opt, sched = build()
    opt.load_state_dict(checkpoint["optimizer"])
    sched.load_state_dict(checkpoint["scheduler"])
    for _ in range(n_steps - split):
        opt.step()
        sched.step()
        out.append(_lrs(opt))
    return out
