"""Scenario drivers for kata 05_modules: build and run the solution's models, return plain data.

make_mlp takes an activation class and count_parameters / capture_activations take an
nn.Module: none of these can cross a process boundary. So the suite names an activation by
string and a model by scenario, and these drivers build it on cpu (seeded), move it to the
input's device and dtype, call the solution and hand back tensors, numbers and strings.
Every assertion stays in tests/test_05_modules.py.

`build_capture_model` and `tied_pair` are plain torch: the suite builds the same models
(same seed) to compute what it expects.
"""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "GELU": nn.GELU, "Sigmoid": nn.Sigmoid, "ELU": nn.ELU}


def _detach(t):
    return None if t is None else t.detach().clone()


def _linears(model):
    """(weight, bias) of every nn.Linear in model, in model.modules() order."""
    return [(m.weight, m.bias) for m in model.modules() if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------------------ make_mlp

def mlp_structure(mod, sizes, activation=None):
    """make_mlp(sizes[, ACTIVATIONS[activation]]): its type and its children, in order, and
    the caller's sizes list as it was after the call (sizes_after)."""
    sizes = list(sizes)  # the caller's list, on the solution's side (also in a sandboxed worker)
    m = mod.make_mlp(sizes) if activation is None else mod.make_mlp(sizes, ACTIVATIONS[activation])
    children = list(m.children()) if isinstance(m, nn.Module) else []
    act = nn.ReLU if activation is None else ACTIVATIONS[activation]
    return {
        "type": f"{type(m).__module__}.{type(m).__qualname__}",
        "is_sequential": isinstance(m, nn.Sequential),
        "children": [type(c).__name__ for c in children],
        "is_linear": [isinstance(c, nn.Linear) for c in children],
        "is_activation": [isinstance(c, act) for c in children],
        "linear_shapes": [tuple(c.weight.shape) for c in children if isinstance(c, nn.Linear)],
        "linear_has_bias": [c.bias is not None for c in children if isinstance(c, nn.Linear)],
        "sizes_after": list(sizes),
    }


def mlp_forward(mod, x, sizes, activation=None, seed=0):
    """A seeded make_mlp(sizes, ...) moved to x's device and dtype: its Linears and m(x)."""
    torch.manual_seed(seed)
    m = mod.make_mlp(sizes) if activation is None else mod.make_mlp(sizes, ACTIVATIONS[activation])
    m = m.to(device=x.device, dtype=x.dtype)
    out = m(x)
    return {"linears": [(_detach(w), _detach(b)) for w, b in _linears(m)], "out": out.detach()}


# --------------------------------------------------------------------------- ResidualMLP

def residual_structure(mod, dim, hidden, depth):
    """ResidualMLP(dim, hidden, depth): its Linear shapes in modules() order, parameter count."""
    m = mod.ResidualMLP(dim, hidden, depth)
    return {
        "is_module": isinstance(m, nn.Module),
        "linear_shapes": [tuple(w.shape) for w, _ in _linears(m)],
        "linear_has_bias": [b is not None for _, b in _linears(m)],
        "numel": sum(p.numel() for p in m.parameters()),
    }


def residual_forward(mod, x, dim, hidden, depth, seed=0, zero_parameters=False):
    """A seeded ResidualMLP on x's device and dtype (all parameters zeroed on request): its
    Linears in modules() order and m(x)."""
    torch.manual_seed(seed)
    m = mod.ResidualMLP(dim, hidden, depth).to(device=x.device, dtype=x.dtype)
    if zero_parameters:
        with torch.no_grad():
            for p in m.parameters():
                p.zero_()
    out = m(x)
    return {"linears": [(_detach(w), _detach(b)) for w, b in _linears(m)], "out": out.detach()}


def residual_backward(mod, x, grad_output, dim, hidden, depth, seed=0):
    """m(x).backward(grad_output) for a seeded ResidualMLP: x.grad and each Linear's grads."""
    torch.manual_seed(seed)
    m = mod.ResidualMLP(dim, hidden, depth).to(device=x.device, dtype=x.dtype)
    x = x.detach().clone().requires_grad_(True)
    m(x).backward(grad_output)
    return {
        "linears": [(_detach(w), _detach(b)) for w, b in _linears(m)],
        "x_grad": _detach(x.grad),
        "linear_grads": [(_detach(w.grad), None if b is None else _detach(b.grad)) for w, b in _linears(m)],
    }


# ------------------------------------------------------------------------ count_parameters

def tied_pair(d):
    """Two Linear(d, d) whose weights are one Parameter (weight tying): d*d + 2*d scalars."""
    a, b = nn.Linear(d, d), nn.Linear(d, d)
    b.weight = a.weight
    return nn.Sequential(a, nn.ReLU(), b)


class Scaled(nn.Module):
    """gain * Linear(d, out)(x) + offset: a parameter (gain) and a buffer (offset) of its own."""

    def __init__(self, d, out):
        super().__init__()
        self.fc = nn.Linear(d, out)
        self.gain = nn.Parameter(torch.ones(out))
        self.register_buffer("offset", torch.zeros(out))

    def forward(self, x):
        return self.gain * self.fc(x) + self.offset


class ConvWithTemperature(nn.Module):
    """conv = Conv2d(d, out, (2, 3)) (a 4-d weight) and temperature, a 0-d parameter of its own."""

    def __init__(self, d, out):
        super().__init__()
        self.conv = nn.Conv2d(d, out, (2, 3))
        self.temperature = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return self.conv(x) / self.temperature


def _count_model(scenario, sizes, frozen):
    """The model for a count_parameters scenario (plain torch).

    mlp:       Sequential of Linear(sizes[i], sizes[i+1]) with ReLUs; Linear i frozen when frozen[i].
    shared:    the same Linear(sizes[0], sizes[0]) applied twice, inside a Sequential with a tail
               Linear(sizes[0], sizes[1]); frozen[0] freezes the shared layer, frozen[1] the tail.
    tied:      tied_pair(sizes[0]); frozen[0] freezes the tied weight.
    batchnorm: Linear(sizes[0], sizes[1]) then BatchNorm1d(sizes[1]) (whose running stats are
               buffers); frozen[0] freezes the Linear, frozen[1] the BatchNorm's affine parameters.
    own:       Scaled(sizes[0], sizes[1]): a Linear child plus a parameter of the model itself (and a
               buffer); frozen[0] freezes the Linear, frozen[1] the model's own gain.
    bias_only: Linear(sizes[0], sizes[1]), ReLU, Linear(sizes[1], sizes[0]); frozen[i] freezes the
               weight of Linear i only (its bias stays trainable, as in bias-only fine-tuning).
    no_bias:   Linear(sizes[0], sizes[1], bias=False), ReLU, Linear(sizes[1], sizes[0]): a layer whose
               bias is registered as None; frozen[i] freezes Linear i.
    conv:      ConvWithTemperature(sizes[0], sizes[1]): parameters of 4, 1 and 0 dims; frozen[0]
               freezes the conv, frozen[1] the temperature.
    """
    if scenario == "mlp":
        layers = []
        for i in range(len(sizes) - 1):
            layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        groups = [m for m in model if isinstance(m, nn.Linear)]
    elif scenario == "shared":
        shared = nn.Linear(sizes[0], sizes[0])
        model = nn.Sequential(shared, nn.Tanh(), shared, nn.Linear(sizes[0], sizes[1]))
        groups = [shared, model[3]]
    elif scenario == "tied":
        model = tied_pair(sizes[0])
        groups = [model[0].weight]
    elif scenario == "batchnorm":
        model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.BatchNorm1d(sizes[1]))
        groups = [model[0], model[1]]
    elif scenario == "own":
        model = Scaled(sizes[0], sizes[1])
        groups = [model.fc, model.gain]
    elif scenario == "bias_only":
        model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[0]))
        groups = [model[0].weight, model[2].weight]
    elif scenario == "no_bias":
        model = nn.Sequential(nn.Linear(sizes[0], sizes[1], bias=False), nn.ReLU(), nn.Linear(sizes[1], sizes[0]))
        groups = [model[0], model[2]]
    elif scenario == "conv":
        model = ConvWithTemperature(sizes[0], sizes[1])
        groups = [model.conv, model.temperature]
    else:
        raise ValueError(scenario)
    for group, freeze in zip(groups, frozen):
        if freeze:
            params = [group] if isinstance(group, nn.Parameter) else list(group.parameters())
            for p in params:
                p.requires_grad_(False)
    return model


def count(mod, scenario, sizes, frozen, trainable_only=None, device=None):
    """count_parameters(model[, trainable_only]) for a scenario model (see _count_model), built on
    DEVICE when given ("meta": parameters with shapes and no storage, as when a large model's size
    is counted before any memory is allocated)."""
    if device is None:
        model = _count_model(scenario, sizes, frozen)
    else:
        with torch.device(device):
            model = _count_model(scenario, sizes, frozen)
    if trainable_only is None:
        return mod.count_parameters(model)
    return mod.count_parameters(model, trainable_only=trainable_only)


def count_expected(scenario, sizes, frozen, trainable_only=True):
    """What count_parameters must give for that scenario model: plain torch, no solution involved
    (model.parameters() yields each Parameter object once)."""
    model = _count_model(scenario, sizes, frozen)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------- capture_activations

class BoomError(Exception):
    """An exception type of the model's own (not a builtin a solution might single out)."""


class BoomInterrupt(BaseException):
    """Not an Exception: what a KeyboardInterrupt (Ctrl-C in a long forward) looks like to an
    `except Exception:` clause, which does not see it."""


ERRORS = {"RuntimeError": RuntimeError, "ValueError": ValueError, "BoomError": BoomError,
          "BoomInterrupt": BoomInterrupt}


class Boom(nn.Module):
    """A layer whose forward raises ERRORS[error], to check the error reaches the caller as it
    was and the hooks are removed on the error path."""

    def __init__(self, error="RuntimeError"):
        super().__init__()
        self.error = error

    def forward(self, x):
        raise ERRORS[self.error]("Boom: this forward always raises")


def build_capture_model(dims, seed=0):
    """A nested model with a name for every level (plain torch, seeded):

    ''       Sequential
    '0'      Linear(d0, d1)
    '1'      Tanh
    '2'      Sequential
    '2.0'    Linear(d1, d2)
    '2.1'    ReLU
    '3'      Linear(d2, d3)
    """
    torch.manual_seed(seed)
    d0, d1, d2, d3 = dims
    return nn.Sequential(nn.Linear(d0, d1), nn.Tanh(), nn.Sequential(nn.Linear(d1, d2), nn.ReLU()),
                         nn.Linear(d2, d3))


def _hook_state(model):
    """Every hook and forward override on the model's modules and torch's global hook tables."""
    tables = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
              "_state_dict_hooks", "_load_state_dict_pre_hooks")
    state = {}
    for name, m in model.named_modules():
        for table in tables:
            hooks = getattr(m, table, None) or {}
            if len(hooks):
                state[f"{name or '<model>'}.{table}"] = len(hooks)
        if "forward" in vars(m):
            state[f"{name or '<model>'}.forward overridden"] = 1
    glob = torch.nn.modules.module
    for table in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                  "_global_backward_pre_hooks", "_global_module_registration_hooks",
                  "_global_parameter_registration_hooks", "_global_buffer_registration_hooks"):
        hooks = getattr(glob, table, None) or {}
        if len(hooks):
            state[f"torch.nn.modules.module.{table}"] = len(hooks)
    return state


def capture(mod, x, names, dims, seed=0, own_hook_on=None, own_global_hook=False, frozen=()):
    """capture_activations(build_capture_model(dims, seed) on x's device and dtype, x, names).

    With OWN_HOOK_ON, the caller first registers its own forward hook on that submodule, which
    must still be there (and fire) afterwards; with OWN_GLOBAL_HOOK, also a global forward hook
    (torch.nn.modules.module.register_module_forward_hook, fires for every module), removed by
    this driver at the end. Returns the captured tensors (detached), the hook state before and
    after, and how often the caller's hooks fired in a later model(x).
    """
    model = build_capture_model(dims, seed).to(device=x.device, dtype=x.dtype)
    for name in frozen:  # the caller's frozen submodules (FROZEN: names of build_capture_model)
        model.get_submodule(name).requires_grad_(False)
    flags_before = {name: p.requires_grad for name, p in model.named_parameters()}
    fired, fired_global = [], []
    if own_hook_on is not None:
        model.get_submodule(own_hook_on).register_forward_hook(lambda m, args, out: fired.append(1))
    handle = (nn.modules.module.register_module_forward_hook(lambda m, args, out: fired_global.append(1))
              if own_global_hook else None)
    try:
        before = _hook_state(model)
        got = mod.capture_activations(model, x, names)
        after = _hook_state(model)
        flags_after = {name: p.requires_grad for name, p in model.named_parameters()}
        fired.clear()
        fired_global.clear()
        with torch.no_grad():
            model(x)
    finally:
        if handle is not None:
            handle.remove()
    captured = {k: _detach(v) for k, v in got.items()} if isinstance(got, dict) else None
    return {"type": type(got).__name__, "acts": captured, "before": before, "after": after,
            "own_hook_fired": len(fired), "own_global_hook_fired": len(fired_global),
            "modules_run": len(list(model.modules())), "requires_grad_before": flags_before,
            "requires_grad_after": flags_after}


def capture_failing(mod, x, names, dims, seed=0, failure="forward", error="RuntimeError"):
    """capture_activations on a model that cannot finish: FAILURE 'forward' appends a Boom layer
    (model(x) raises ERRORS[error]: RuntimeError, ValueError or the driver's own BoomError);
    'name' leaves the model working (names should hold an unknown name). Returns the exception that reached the caller (type name, message, or None)
    and the hook state before and after."""
    model = build_capture_model(dims, seed)
    if failure == "forward":
        model.append(Boom(error))
    model = model.to(device=x.device, dtype=x.dtype)
    accepted = _accepted_case(mod, model, x, names) if failure == "name" else None
    before = _hook_state(model)
    raised, message, is_key_error = None, "", False
    try:
        mod.capture_activations(model, x, names)
    except (Exception, BoomInterrupt) as err:  # noqa: BLE001 - what reached the caller is the observation
        raised, message, is_key_error = type(err).__name__, str(err), isinstance(err, KeyError)
    return {"raised": raised, "message": message, "is_key_error": is_key_error,
            "before": before, "after": _hook_state(model), "accepted": accepted}


def _accepted_case(mod, model, x, names):
    """capture_activations with the known NAMES only, against the outputs hooks of the driver's
    own record: None when it is right, else what went wrong. (A KeyError earns nothing from a
    capture_activations that raises whatever it is given.)"""
    known = [n for n in dict.fromkeys(names) if n in dict(model.named_modules())]
    want, handles = {}, []
    for name in known:
        handles.append(model.get_submodule(name).register_forward_hook(
            lambda m, args, out, name=name: want.setdefault(name, out.detach().clone())))
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    try:
        got = mod.capture_activations(model, x, known)
    except Exception as err:  # noqa: BLE001 - what reached the caller is the observation
        return f"with the known names {known} only, it raised {type(err).__name__}: {str(err)[:200]}"
    if not isinstance(got, dict) or set(got) != set(known):
        return f"with the known names {known} only, it returned {type(got).__name__} " \
               f"with keys {sorted(got) if isinstance(got, dict) else '-'}"
    for name in known:
        value = got[name]
        if not (isinstance(value, torch.Tensor) and value.shape == want[name].shape
                and torch.allclose(value.detach(), want[name], rtol=1e-5, atol=1e-6)):
            return f"with the known names {known} only, the entry {name!r} is not that submodule's output"
    return None


def build_dropout_model(dims, seed=0):
    """A model whose output depends on its training mode and on the random generator (plain torch):

    ''   Sequential
    '0'  Linear(d0, d1)
    '1'  Dropout(0.5)
    '2'  Linear(d1, d2)
    '3'  Dropout(0.5)
    """
    torch.manual_seed(seed)
    d0, d1, d2 = dims
    return nn.Sequential(nn.Linear(d0, d1), nn.Dropout(0.5), nn.Linear(d1, d2), nn.Dropout(0.5))


def capture_in_mode(mod, x, names, dims, modes, seed=0):
    """capture_activations(build_dropout_model(dims) on x's device and dtype, x, names), with each
    module's training flag set from MODES (named_modules() order) and torch seeded with SEED just
    before the call. Then the driver restores those flags, seeds again and runs model(x) once with
    hooks of its own: what a single forward in those modes computes. Returns the captured and the
    replayed tensors (detached) and the training flags before and after the call."""
    model = build_dropout_model(dims, seed).to(device=x.device, dtype=x.dtype)
    modules = dict(model.named_modules())
    for m, flag in zip(modules.values(), modes):
        m.training = flag
    before = {name or "<model>": m.training for name, m in modules.items()}
    torch.manual_seed(seed)
    got = mod.capture_activations(model, x, names)
    after = {name or "<model>": m.training for name, m in modules.items()}
    captured = {k: _detach(v) for k, v in got.items()} if isinstance(got, dict) else None
    for m, flag in zip(modules.values(), modes):
        m.training = flag
    replayed = {}
    handles = [modules[n].register_forward_hook(lambda m, args, out, n=n: replayed.__setitem__(n, _detach(out)))
               for n in names]
    torch.manual_seed(seed)
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return {"type": type(got).__name__, "acts": captured, "replayed": replayed, "before": before, "after": after}
