"""Forbidden callables, rejected three ways: a source scan, name-level wrappers and an
operation-level guard (see docs/GUARD.md for what each catalog entry maps to).

- The source scan (`scan_source`) rejects a solution that names a forbidden callable.
- `install` replaces each forbidden callable on its home module (or class) by a thin wrapper,
  so a call by name, alias, ``getattr`` or a string trips it.
- While `guarded` is active, a TorchFunctionMode sees every overridable torch function and
  Tensor method call whatever name it was reached by (``type(x).__dict__['tanh']``,
  ``functools.partial``, a reloaded ``torch``, ``torch._C._VariableFunctions.relu``,
  ``torch.ops.aten.relu``), and a TorchDispatchMode sees the aten operators underneath
  (``torch.ops.aten.relu.default`` or any composite that computes the forbidden operation).
  Python-level entries that torch cannot intercept (optimizers, schedulers, torch.func) are
  recognised by their code objects on the stack whenever they run a torch operation.

Who is responsible for a forbidden operation is decided from the Python stack between the
operation and the harness frame that entered the guard: frames of genuine library code
(torch, the standard library, site-packages, torchkata; "genuine" means the frame runs a
code object of that module's own source in that module's globals) are transparent; the first
frame of genuine hidden-suite code (the test modules and drivers loaded before any solution)
means the suite called the operation itself (a driver's loss function the solution calls, an
nn.Linear a driver builds for comparison): allowed. Any other frame - the solution's module,
code it compiled under any file name with any globals, copies of library code - makes the
call the solution's. A library method running on an instance of a class that is not genuine
library or suite code (``Module.__call__`` of a solution's model, later called by a driver)
counts as the solution's too.
"""
from __future__ import annotations

import ast
import functools
import importlib
import os
import sys
import sysconfig
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


class ForbiddenCallableError(RuntimeError):
    """A solution called something its kata forbids."""


RULE = "the catalog forbids it in this kata so that you write that part yourself"

# ------------------------------------------------------------------- what each entry maps to

_SOFTMAX = ("_softmax",)
_LOG_SOFTMAX = ("_log_softmax",)

# aten operators (overload packets) that ARE the entry's operation: rejected at dispatch
# level, whatever Python name, alias or composite reached them. Only operators that no
# allowed public function produces as a mere piece of something else are listed here.
ATEN_DISPATCH: dict[str, tuple[str, ...]] = {
    "torch.relu": ("relu", "relu_"),
    "torch.nn.functional.relu": ("relu", "relu_"),
    "torch.sigmoid": ("sigmoid", "sigmoid_"),
    "torch.nn.functional.sigmoid": ("sigmoid", "sigmoid_"),
    "torch.Tensor.sigmoid": ("sigmoid", "sigmoid_"),
    "torch.special.expit": ("sigmoid", "sigmoid_"),
    "torch.tanh": ("tanh", "tanh_"),
    "torch.Tensor.tanh": ("tanh", "tanh_"),
    "torch.nn.functional.tanh": ("tanh", "tanh_"),
    "torch.softmax": _SOFTMAX,
    "torch.Tensor.softmax": _SOFTMAX,
    "torch.nn.functional.softmax": _SOFTMAX,
    "torch.special.softmax": _SOFTMAX,
    "torch._softmax": _SOFTMAX,
    "torch.nn.Softmax": _SOFTMAX,
    "torch.log_softmax": _LOG_SOFTMAX,
    "torch.Tensor.log_softmax": _LOG_SOFTMAX,
    "torch.nn.functional.log_softmax": _LOG_SOFTMAX,
    "torch.special.log_softmax": _LOG_SOFTMAX,
    "torch.nn.functional.gelu": ("gelu", "gelu_"),
    "torch.logsumexp": ("logsumexp",),
    "torch.Tensor.logsumexp": ("logsumexp",),
    "torch.cdist": ("_cdist_forward",),
    "torch.addmm": ("addmm", "addmm_"),
    "torch.nn.functional.layer_norm": ("native_layer_norm",),
    "torch.nn.LayerNorm": ("native_layer_norm",),
    "torch.nn.functional.mse_loss": ("mse_loss",),
    "torch.nn.MSELoss": ("mse_loss",),
    "torch.nn.functional.binary_cross_entropy": ("binary_cross_entropy",),
    "torch.nn.functional.binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits",),
    "torch.nn.BCEWithLogitsLoss": ("binary_cross_entropy_with_logits",),
    "torch.nn.functional.nll_loss": ("nll_loss_forward", "nll_loss2d_forward"),
    "torch.nn.NLLLoss": ("nll_loss_forward", "nll_loss2d_forward"),
    "torch.nn.functional.huber_loss": ("huber_loss",),
    "torch.nn.HuberLoss": ("huber_loss",),
    "torch.nn.functional.smooth_l1_loss": ("smooth_l1_loss",),
    "torch.linalg.lstsq": ("linalg_lstsq",),
    "torch.linalg.pinv": ("linalg_pinv",),
    "torch.nn.functional.dropout": ("native_dropout",),
    "torch.dropout": ("native_dropout",),
    "torch.nn.Dropout": ("native_dropout",),
    "torch.nn.functional.scaled_dot_product_attention": (
        "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable"),
    "torch.nn.functional.embedding": ("embedding",),
    "torch.embedding": ("embedding",),
    "torch.nn.Embedding": ("embedding",),
    "torch.nn.functional.embedding_bag": ("_embedding_bag", "_embedding_bag_forward_only"),
    "torch.embedding_bag": ("_embedding_bag", "_embedding_bag_forward_only"),
    "torch._embedding_bag": ("_embedding_bag", "_embedding_bag_forward_only"),
    "torch.nn.EmbeddingBag": ("_embedding_bag", "_embedding_bag_forward_only"),
    "torch.quantize_per_tensor": ("quantize_per_tensor",),
    "torch.Tensor.dequantize": ("dequantize",),
    "torch.Tensor.to_sparse": ("_to_sparse",),
    "torch.Tensor.to_sparse_coo": ("_to_sparse",),
    "torch._choose_qparams_per_tensor": ("_choose_qparams_per_tensor",),
    "torch.fake_quantize_per_tensor_affine": (
        "fake_quantize_per_tensor_affine_cachemask", "_fake_quantize_per_tensor_affine_cachemask_tensor_qparams"),
    "torch.nn.functional.ctc_loss": ("_ctc_loss", "_cudnn_ctc_loss"),
    "torch.ctc_loss": ("_ctc_loss", "_cudnn_ctc_loss"),
    "torch._ctc_loss": ("_ctc_loss", "_cudnn_ctc_loss"),
    "torch.nn.CTCLoss": ("_ctc_loss", "_cudnn_ctc_loss"),
}

# aten operators rejected only when the solution calls them directly (torch.ops.aten.<op>,
# seen by the TorchFunctionMode): composites that torch decomposes before dispatch, and
# operators that allowed functions also use inside (max_pool1d runs max_pool2d_with_indices,
# avg_pool1d avg_pool2d, conv_transpose2d convolution, instance_norm native_batch_norm).
_CONV = ("convolution", "_convolution", "convolution_overrideable")
_MAXPOOL = ("max_pool2d", "max_pool2d_with_indices")
_BATCH_NORM = ("batch_norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
               "_native_batch_norm_legit_functional", "_batch_norm_impl_index", "cudnn_batch_norm",
               "miopen_batch_norm", "_batch_norm_with_update", "_batch_norm_no_update")
ATEN_DIRECT: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.one_hot": ("one_hot",),
    "torch.einsum": ("einsum",),
    "torch.cdist": ("cdist", "_euclidean_dist"),
    "torch.nn.functional.linear": ("linear",),
    "torch.nn.Linear": ("linear",),
    "torch.nn.functional.layer_norm": ("layer_norm",),
    "torch.nn.LayerNorm": ("layer_norm",),
    "torch.softmax": ("softmax", "special_softmax"),
    "torch.Tensor.softmax": ("softmax", "special_softmax"),
    "torch.nn.functional.softmax": ("softmax", "special_softmax"),
    "torch.special.softmax": ("softmax", "special_softmax"),
    "torch.nn.Softmax": ("softmax", "special_softmax"),
    "torch.log_softmax": ("log_softmax", "special_log_softmax"),
    "torch.Tensor.log_softmax": ("log_softmax", "special_log_softmax"),
    "torch.nn.functional.log_softmax": ("log_softmax", "special_log_softmax"),
    "torch.special.log_softmax": ("log_softmax", "special_log_softmax"),
    "torch.special.expit": ("special_expit",),
    "torch.nn.functional.cross_entropy": ("cross_entropy_loss",),
    "torch.nn.CrossEntropyLoss": ("cross_entropy_loss",),
    "torch.nn.functional.l1_loss": ("l1_loss",),
    "torch.nn.functional.conv1d": ("conv1d",) + _CONV,
    "torch.conv1d": ("conv1d",) + _CONV,
    "torch.nn.functional.conv2d": ("conv2d",) + _CONV,
    "torch.conv2d": ("conv2d",) + _CONV,
    "torch.nn.Conv2d": ("conv2d",) + _CONV,
    "torch.nn.functional.conv3d": ("conv3d",) + _CONV,
    "torch.convolution": _CONV,
    "torch.nn.functional.max_pool2d": _MAXPOOL,
    "torch.max_pool2d": _MAXPOOL,
    "torch.nn.MaxPool2d": _MAXPOOL,
    "torch.nn.functional.avg_pool2d": ("avg_pool2d",),
    "torch.nn.AvgPool2d": ("avg_pool2d",),
    "torch.nn.functional.batch_norm": _BATCH_NORM,
    "torch.batch_norm": _BATCH_NORM,
    "torch.nn.BatchNorm1d": _BATCH_NORM,
    "torch.nn.BatchNorm2d": _BATCH_NORM,
    "torch.native_batch_norm": ("native_batch_norm",),
    "torch.nn.functional.dropout": ("dropout",),
    "torch.dropout": ("dropout",),
    "torch.nn.functional.alpha_dropout": ("alpha_dropout",),
    "torch.rnn_tanh": ("rnn_tanh",),
    "torch.lstm": ("lstm",),
    "torch.gru": ("gru",),
    "torch.lstm_cell": ("lstm_cell",),
    "torch.gru_cell": ("gru_cell",),
    "torch.rnn_tanh_cell": ("rnn_tanh_cell",),
    "torch.nn.functional.scaled_dot_product_attention": ("scaled_dot_product_attention",
                                                         "_scaled_dot_product_attention_math"),
    "torch.sparse_coo_tensor": ("sparse_coo_tensor", "_sparse_coo_tensor_unsafe",
                                "_sparse_coo_tensor_with_dims_and_tensors"),
    "torch.fake_quantize_per_tensor_affine": ("fake_quantize_per_tensor_affine",),
    "torch.nn.functional.ctc_loss": ("ctc_loss",),
    "torch.ctc_loss": ("ctc_loss",),
    "torch.nn.utils.rnn.pad_sequence": ("pad_sequence",),
    "torch.linalg.pinv": ("linalg_pinv",),
}

# Other Python callables that are the same entry under another name.
ALSO: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.max_pool2d": ("torch.nn.functional._max_pool2d",
                                       "torch.nn.functional.max_pool2d_with_indices"),
    "torch.max_pool2d": ("torch.max_pool2d_with_indices",),
    "torch.nn.functional.conv1d": ("torch.conv1d",),
    "torch.nn.functional.conv2d": ("torch.conv2d",),
    "torch.nn.functional.conv3d": ("torch.conv3d",),
    "torch.nn.functional.batch_norm": ("torch.batch_norm",),
    "torch.nn.functional.embedding": ("torch.embedding",),
    "torch.nn.functional.dropout": ("torch.dropout",),
}


# ------------------------------------------------------------------------------ state

@dataclass(frozen=True)
class _Tables:
    names: dict  # callable object -> entry (TorchFunctionMode)
    codes: dict  # code key of a Python function torch hands to __torch_function__ -> entry
    stack: dict  # code key of a Python function or method torch cannot intercept -> entry
    aten: dict  # id(OpOverload) -> (OpOverload, entry) (TorchDispatchMode; ids hash fast)
    function_mode: bool  # some entry needs the TorchFunctionMode (not all are seen at dispatch)


@dataclass
class _Active:
    kata_id: str
    forbidden: frozenset[str]
    roots: tuple[str, ...]
    module_names: frozenset[str]
    tables: _Tables | None = None
    entry: types.FrameType | None = None


@dataclass
class _State:
    stack: list[_Active] = field(default_factory=list)
    installed: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)
    originals: dict = field(default_factory=dict)  # entry -> the object before install
    wrappers: dict = field(default_factory=dict)  # entry -> the wrapper install put in its place
    tables: dict = field(default_factory=dict)  # tuple(forbidden) -> _Tables
    suite: dict | None = None  # module name -> (module, code keys) of the suite, taken once
    suite_dirs: tuple[str, ...] = ()


_STATE = _State()

LIB, SUITE, SOLUTION = "library", "suite", "solution"

# ------------------------------------------------------------------------- code identity

_KEYS: dict[int, tuple] = {}  # id(code) -> (code, key); the code is kept so the id stays its own
_INTERNED: dict[tuple, int] = {}  # full key -> small int, so lookups hash an int


def _code_key(code: types.CodeType) -> int:
    """What makes two code objects the same code, wherever and however they were compiled:
    qualified name, (unspecialised) bytecode, names, locals and constants, nested code too.
    File name and line numbers are left out, so a reloaded or copied function is recognised.
    Returned as an interned int (the same int for the same code)."""
    hit = _KEYS.get(id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
                   for c in code.co_consts)
    full = (code.co_qualname, code.co_code, code.co_names, code.co_varnames, code.co_freevars, consts)
    key = _INTERNED.setdefault(full, len(_INTERNED))
    _KEYS[id(code)] = (code, key)
    return key


def _walk_code(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _walk_code(const)


_NOT_CODE = frozenset({"__annotations__", "__orig_bases__", "__parameters__", "__dict__", "__weakref__",
                       "__module__", "__doc__", "__slots__", "__type_params__"})


def _function_codes(obj, seen: set, depth: int = 0):
    """Code objects reachable from OBJ (functions, methods, classes, containers)."""
    if depth > 6 or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, types.FunctionType) and "__torchkata_original__" in obj.__dict__:
        yield from _function_codes(obj.__torchkata_original__, seen, depth + 1)
    elif isinstance(obj, types.FunctionType):
        yield from _walk_code(obj.__code__)
        for inner in (obj.__dict__.get("__wrapped__"), getattr(obj.__dict__.get("hypothesis"), "inner_test", None)):
            if inner is not None:
                yield from _function_codes(inner, seen, depth + 1)
    elif isinstance(obj, (staticmethod, classmethod, types.MethodType)):
        yield from _function_codes(obj.__func__, seen, depth + 1)
    elif isinstance(obj, property):
        for f in (obj.fget, obj.fset, obj.fdel):
            if f is not None:
                yield from _function_codes(f, seen, depth + 1)
    elif isinstance(obj, functools.partial):
        yield from _function_codes(obj.func, seen, depth + 1)
    elif isinstance(obj, type):
        # The class's own functions only: its annotations and generic bases name other classes
        # (`weights: Tensor`), whose code is not this class's (every Tensor dunder was taken for
        # WeightedRandomSampler's before).
        for key, value in list(vars(obj).items()):
            if key not in _NOT_CODE and not isinstance(value, type):
                yield from _function_codes(value, seen, depth + 1)
    elif isinstance(obj, dict):
        for value in list(obj.values()):
            if not isinstance(value, type):
                yield from _function_codes(value, seen, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for value in list(obj):
            if not isinstance(value, type):
                yield from _function_codes(value, seen, depth + 1)


def _reachable_keys(module: types.ModuleType) -> set:
    seen: set = set()
    keys = set()
    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__module__ != module.__name__:
            continue  # imported classes belong to their own module
        keys.update(_code_key(c) for c in _function_codes(value, seen))
    return keys


def _source_keys(module: types.ModuleType) -> set:
    """Keys of every code object compiled from the module's own file (its cached bytecode)."""
    try:
        code = module.__spec__.loader.get_code(module.__name__)
    except Exception:  # noqa: BLE001 - no loader, no source, a loader without get_code
        return set()
    return {_code_key(c) for c in _walk_code(code)} if code is not None else set()


# ----------------------------------------------------------------- who owns a Python frame

_LIB_DIRS: tuple[str, ...] = ()
_MODULE_INFO: dict[str, tuple] = {}  # module name -> (module, kind, file, keys)


def _norm_dirs(paths) -> tuple[str, ...]:
    out = set()
    for p in paths:
        if p:
            for v in (os.path.abspath(p), os.path.realpath(p)):
                out.add(v.rstrip(os.sep) + os.sep)
    return tuple(sorted(out))


def _lib_dirs() -> tuple[str, ...]:
    global _LIB_DIRS
    if not _LIB_DIRS:
        import torch

        paths = sysconfig.get_paths()
        _LIB_DIRS = _norm_dirs([paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
                               + [os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__))])
    return _LIB_DIRS


def _module_file(module) -> str | None:
    file = getattr(module, "__file__", None)
    return os.path.abspath(file) if isinstance(file, str) else None


def _under(path: str, dirs: tuple[str, ...]) -> bool:
    return bool(dirs) and (path.startswith(dirs) or os.path.realpath(path).startswith(dirs))


def _module_info(module) -> tuple:
    """(kind, file, genuine code keys) of a module: LIB, SUITE or SOLUTION (anything else)."""
    name = module.__name__
    hit = _MODULE_INFO.get(name)
    if hit is not None and hit[0] is module:
        return hit[1:]
    file = _module_file(module)
    snapshot = (_STATE.suite or {}).get(name)
    if name.startswith("torchkata_solution_"):
        kind, keys = SOLUTION, set()
    elif file is None:
        spec = getattr(module, "__spec__", None)
        frozen = getattr(spec, "origin", None) in ("frozen", "built-in")
        kind = LIB if frozen else SOLUTION
        keys = (_source_keys(module) | _reachable_keys(module)) if frozen else set()
    elif _under(file, _lib_dirs()):
        kind, keys = LIB, _source_keys(module) | _reachable_keys(module)
    elif snapshot is not None and snapshot[0] is module:
        kind, keys = SUITE, _source_keys(module) | snapshot[1]
    elif _under(file, _STATE.suite_dirs):
        # A suite module imported after the first solution ran: only its file's own code.
        kind, keys = SUITE, _source_keys(module)
    else:
        kind, keys = SOLUTION, set()
    _MODULE_INFO[name] = (module, kind, file, keys)
    return kind, file, keys


def _frame_kind(frame: types.FrameType, active: _Active) -> str:
    globals_ = frame.f_globals
    module = sys.modules.get(globals_.get("__name__"))
    if module is None or getattr(module, "__dict__", None) is not globals_ or module.__name__ in active.module_names:
        return SOLUTION  # code with globals of its own (exec, compile), or the solution's module
    kind, file, keys = _module_info(module)
    if kind == SOLUTION or (file is not None and _under(file, active.roots)):
        return SOLUTION
    code = frame.f_code
    if _code_key(code) not in keys:
        return SOLUTION  # not this module's own code: compiled or copied under its name
    if kind == LIB and code.co_argcount and code.co_varnames[0] == "self":
        owner = frame.f_locals.get("self")
        if owner is not None and not _trusted_class(type(owner), active):
            return SOLUTION  # a library method running for a solution's object
    return kind


_CLASSES: dict[int, tuple] = {}


def _trusted_class(cls: type, active: _Active) -> bool:
    hit = _CLASSES.get(id(cls))
    if hit is not None and hit[0] is cls:
        return hit[1]
    module = sys.modules.get(getattr(cls, "__module__", None) or "")
    trusted = False
    if module is not None and module.__name__ not in active.module_names:
        kind, file, keys = _module_info(module)
        if kind != SOLUTION and not (file and _under(file, active.roots)):
            obj = module
            for part in cls.__qualname__.split("."):
                obj = getattr(obj, part, None) if part != "<locals>" else None
                if obj is None:
                    break
            if obj is cls:
                trusted = True
            elif obj is None:  # a class defined inside a function: its methods must be genuine
                trusted = all(_code_key(c) in keys for v in vars(cls).values()
                              for c in _function_codes(v, set()))
    _CLASSES[id(cls)] = (cls, trusted)
    return trusted


def _culprit(frame: types.FrameType | None, active: _Active) -> bool:
    """True if the solution (not the suite, not a library on the suite's behalf) made this call."""
    while frame is not None and frame is not active.entry:
        kind = _frame_kind(frame, active)
        if kind == SUITE:
            return False
        if kind == SOLUTION:
            return True
        frame = frame.f_back
    return False


def _snapshot_suite(roots: tuple[str, ...], module_names) -> None:
    """Before any solution has run: every module loaded so far that is not a library is the
    suite's (test modules, drivers, conftest). Their code is recorded now, so code a solution
    adds to them later is not theirs."""
    suite = {}
    dirs = []
    for name, module in list(sys.modules.items()):
        file = _module_file(module) if module is not None else None
        if (file is None or name.startswith("torchkata_solution_") or name in module_names
                or _under(file, _lib_dirs()) or _under(file, roots)):
            continue
        suite[name] = (module, frozenset(_reachable_keys(module)))
        dirs.append(os.path.dirname(file))
    _STATE.suite = suite
    _STATE.suite_dirs = _norm_dirs(dirs)
    _MODULE_INFO.clear()


# ------------------------------------------------------------------------------- errors

def _describe(via) -> str:
    if isinstance(via, types.CodeType):
        return via.co_qualname
    module = getattr(via, "__module__", None)
    qualname = getattr(via, "__qualname__", None) or getattr(via, "__name__", None)
    if type(via).__name__ in ("OpOverload", "OpOverloadPacket"):
        return str(via)
    if qualname and qualname.startswith("TensorBase."):
        return "torch.Tensor." + qualname.split(".", 1)[1]
    if qualname and qualname.startswith("_VariableFunctionsClass."):
        return "torch._C._VariableFunctions." + qualname.split(".", 1)[1]
    return f"{module}.{qualname}" if module and qualname else repr(via)


def _error(name: str, active: _Active, via=None) -> ForbiddenCallableError:
    reached = f" (it was reached as {_describe(via)})" if via is not None and _describe(via) != name else ""
    return ForbiddenCallableError(f"{name} is forbidden in kata {active.kata_id}: {RULE}{reached}.")


# ------------------------------------------------------------- the operation-level guard

def _packet(op: str):
    import torch

    try:
        return getattr(torch.ops.aten, op)
    except (AttributeError, RuntimeError):
        return None


def _register(obj, entry: str, names: dict, codes: dict, stack: dict | None) -> None:
    """Record how the TorchFunctionMode recognises OBJ; STACK is None for an entry the
    dispatch level covers (its code need not be looked for on the stack)."""
    obj = getattr(obj, "__torchkata_original__", obj)
    if isinstance(obj, types.ModuleType):
        return
    if isinstance(obj, type):
        for code in _function_codes(obj, set()) if stack is not None else ():
            stack.setdefault(_code_key(code), entry)
        return
    if isinstance(obj, types.FunctionType):
        if obj.__code__.co_qualname == "boolean_dispatch.<locals>.fn":  # F.max_pool2d and friends
            for cell in obj.__closure__ or ():
                if isinstance(cell.cell_contents, types.FunctionType):
                    _register(cell.cell_contents, entry, names, codes, stack)
            return
        names.setdefault(obj, entry)
        if "handle_torch_function" in obj.__code__.co_names:
            codes.setdefault(_code_key(obj.__code__), entry)
        elif stack is not None:  # torch cannot intercept it: recognise its code on the stack
            for code in _walk_code(obj.__code__):
                stack.setdefault(_code_key(code), entry)
        return
    try:
        names.setdefault(obj, entry)
    except TypeError:
        pass


def _tables_for(forbidden: tuple[str, ...]) -> _Tables:
    tables = _STATE.tables.get(forbidden)
    if tables is not None:
        return tables
    names: dict = {}
    codes: dict = {}
    stack: dict = {}
    aten: dict = {}
    function_mode = False
    for entry in forbidden:  # catalog order: the first entry mapped to an object names it
        objs = [_STATE.originals[entry]] if entry in _STATE.originals else []
        for extra in ALSO.get(entry, ()):
            try:
                objs.append(_resolve(extra)[2])
            except (ImportError, AttributeError):
                pass
        wrapper = _STATE.wrappers.get(entry)
        if wrapper is not None:
            names.setdefault(wrapper, entry)
        covered = entry in ATEN_DISPATCH
        before = (len(names), len(codes), len(stack))
        for obj in objs:
            _register(obj, entry, names, codes, None if covered else stack)
        if not covered and before != (len(names), len(codes), len(stack)):
            function_mode = True  # an entry the dispatch level does not cover by itself
        for table, ops in ((aten, ATEN_DISPATCH.get(entry, ())), (None, ATEN_DIRECT.get(entry, ()))):
            for op in ops:
                packet = _packet(op)
                if packet is None:
                    continue
                names.setdefault(packet, entry)
                for overload in packet.overloads():
                    overload = getattr(packet, overload)  # cached on the packet: a stable id
                    names.setdefault(overload, entry)
                    if table is not None:
                        table.setdefault(id(overload), (overload, entry))
    tables = _Tables(names, codes, stack, aten, function_mode)
    _STATE.tables[forbidden] = tables
    return tables


def _check_stack(frame, active: _Active) -> None:
    stack = active.tables.stack
    while frame is not None and frame is not active.entry:
        entry = stack.get(_code_key(frame.f_code))
        if entry is not None and _culprit(frame.f_back, active):
            raise _error(entry, active, frame.f_code)
        frame = frame.f_back


_MODES: tuple | None = None


def _mode_classes() -> tuple:
    global _MODES
    if _MODES is None:
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        class FunctionGuard(TorchFunctionMode):
            """Sees every overridable torch function / Tensor method / torch.ops call."""

            def __init__(self, active: _Active):
                super().__init__()
                self.active = active

            def __torch_function__(self, func, types_, args=(), kwargs=None):
                __tracebackhide__ = True
                active = self.active
                tables = active.tables
                try:
                    entry = tables.names.get(func)
                except TypeError:
                    entry = None
                if entry is None and tables.codes and type(func) is types.FunctionType:
                    entry = tables.codes.get(_code_key(func.__code__))
                if entry is not None and _culprit(sys._getframe(1), active):
                    raise _error(entry, active, func)
                if tables.stack:
                    _check_stack(sys._getframe(1), active)
                return func(*args, **(kwargs or {}))

        class DispatchGuard(TorchDispatchMode):
            """Sees every aten operator, however it was reached."""

            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                return False  # no torch._dynamo.disable wrapper around every operator

            def __init__(self, active: _Active):
                super().__init__()
                self.active = active

            def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
                __tracebackhide__ = True
                hit = self.active.tables.aten.get(id(func))
                if hit is not None and hit[0] is func and _culprit(sys._getframe(1), self.active):
                    raise _error(hit[1], self.active, func)
                return func(*args, **(kwargs or {}))

        _MODES = (FunctionGuard, DispatchGuard)
    return _MODES


def _switches() -> tuple:
    """What a solution could flip to take the modes out of the way."""
    import torch

    excluded = torch._C._dispatch_tls_is_dispatch_key_excluded
    keys = torch._C.DispatchKey
    return (torch._C._is_torch_function_enabled(), torch._C._is_torch_function_mode_enabled(),
            excluded(keys.Python), excluded(keys.PythonTLSSnapshot))


def _enter_modes(active: _Active):
    import torch

    C = torch._C
    tables = active.tables
    function_cls, dispatch_cls = _mode_classes()
    state = {"switches": _switches(), "function_base": C._len_torch_function_stack(),
             "dispatch_base": C._len_torch_dispatch_stack(), "function": None, "dispatch": None}
    if tables.function_mode:
        state["function"] = function_cls(active)
        state["function"].__enter__()
    if tables.aten:
        try:
            state["dispatch"] = dispatch_cls(active)
            state["dispatch"].__enter__()
        except BaseException:
            if state["function"] is not None:
                state["function"].__exit__(None, None, None)
            raise
    return state


def _leave_stack(mode, base: int, length, top, pop) -> bool:
    """Pop MODE if it is alone on top of BASE modes (True); otherwise restore BASE (False)."""
    if mode is None and length() == base:
        return True
    if mode is not None and length() == base + 1 and top(base) is mode:
        mode.__exit__(None, None, None)
        return True
    while length() > base:  # popped, replaced, or something left above it
        pop()
    return False


def _leave_modes(state) -> str | None:
    """Pop the guard's modes; say what the solution did to them, if anything."""
    import torch

    C = torch._C
    problems = []
    if not _leave_stack(state["dispatch"], state["dispatch_base"], C._len_torch_dispatch_stack,
                        C._get_dispatch_stack_at, lambda: C._pop_torch_dispatch_stack(None)):
        problems.append("the torch dispatch mode stack was changed")
    if not _leave_stack(state["function"], state["function_base"], C._len_torch_function_stack,
                        C._get_function_stack_at, C._pop_torch_function_stack):
        problems.append("the torch function mode stack was changed")
    if _switches() != state["switches"]:
        problems.append("torch function or Python dispatch was left disabled")
    return "; ".join(problems) or None


def _entry_frame() -> types.FrameType | None:
    """The frame that entered `with guarded(...)` (the harness), skipping contextlib."""
    frame = sys._getframe(2)
    import contextlib

    while frame is not None and frame.f_code.co_filename == contextlib.__file__:
        frame = frame.f_back
    return frame


@functools.lru_cache(maxsize=256)
def _resolved(root) -> str:
    return str(Path(root).resolve()) + os.sep


@contextmanager
def guarded(kata_id: str, forbidden, roots, module_names):
    """While active, a forbidden callable or operation reached from solution code raises."""
    roots = tuple(_resolved(r) for r in roots)
    forbidden = tuple(forbidden)
    active = _Active(kata_id, frozenset(forbidden), roots, frozenset(module_names))
    active.entry = _entry_frame()
    if _STATE.suite is None:
        _snapshot_suite(roots, active.module_names)
    modes = None
    if forbidden:
        active.tables = _tables_for(forbidden)
        modes = _enter_modes(active)
    _STATE.stack.append(active)
    try:
        yield
    finally:
        _STATE.stack.remove(active)
        problem = _leave_modes(modes) if modes is not None else None
        if problem:
            raise ForbiddenCallableError(
                f"the solution switched off the forbidden-callable guard of kata {kata_id} ({problem}); "
                "solutions must not manipulate torch's function or dispatch modes")


# ------------------------------------------------------------ the name-level wrappers

def _violation(name: str, depth: int, direct_only: bool = False) -> _Active | None:
    if not _STATE.stack:
        return None
    active = _STATE.stack[-1]
    if name not in active.forbidden:
        return None
    frame = sys._getframe(depth)
    if direct_only:
        return active if _frame_kind(frame, active) == SOLUTION else None
    return active if _culprit(frame, active) else None


def _wrap_function(name: str, original):
    @functools.wraps(original)
    def guarded(*args, **kwargs):
        __tracebackhide__ = True
        active = _violation(name, 2)
        if active is not None:
            raise _error(name, active)
        return original(*args, **kwargs)

    guarded.__torchkata_original__ = original
    return guarded


def _wrap_class(name: str, cls: type) -> None:
    original_init = cls.__dict__.get("__init__", None) or cls.__init__

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        __tracebackhide__ = True
        active = _violation(name, 2)
        if active is not None:
            raise _error(name, active)
        original_init(self, *args, **kwargs)

    __init__.__torchkata_original__ = original_init
    cls.__init__ = __init__


class _ModuleProxy(types.ModuleType):
    def __init__(self, name: str, real: types.ModuleType):
        super().__init__(real.__name__)
        object.__setattr__(self, "_torchkata_name", name)
        object.__setattr__(self, "_torchkata_real", real)

    def __getattr__(self, attr):
        name = object.__getattribute__(self, "_torchkata_name")
        active = _violation(name, 2, direct_only=True)
        if active is not None:
            raise _error(name, active)
        return getattr(object.__getattribute__(self, "_torchkata_real"), attr)


def _resolve(dotted: str):
    """(owner, attribute, value) for a dotted name, importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        owner, attr = None, None
        for part in parts[cut:]:
            owner, attr = obj, part
            obj = getattr(obj, part)
        if owner is None:  # the whole name is a module: its owner is the parent package
            if len(parts) == 1:
                return None, dotted, obj
            owner, attr = importlib.import_module(".".join(parts[:-1])), parts[-1]
        return owner, attr, getattr(obj, "__torchkata_original__", obj)
    raise ImportError(dotted)


def install(forbidden: tuple[str, ...] | list[str]) -> None:
    """Put wrappers on the forbidden callables that are not wrapped yet (idempotent)."""
    for name in forbidden:
        if name in _STATE.installed or name in _STATE.unresolved:
            continue
        try:
            owner, attr, value = _resolve(name)
        except (ImportError, AttributeError):
            # Not in this torch (or not installed): the source scan still rejects it, and a
            # module that cannot be imported cannot be called either.
            _STATE.unresolved.add(name)
            continue
        _STATE.originals[name] = value
        if isinstance(value, type):
            _wrap_class(name, value)
        elif isinstance(value, types.ModuleType):
            if owner is not None:
                setattr(owner, attr, _ModuleProxy(name, value))
        elif callable(value):
            wrapper = _wrap_function(name, value)
            setattr(owner, attr, wrapper)
            _STATE.wrappers[name] = wrapper
        _STATE.installed.add(name)
        _STATE.tables.clear()


# ----------------------------------------------------------------------------- source scan

def _import_aliases(tree: ast.AST) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        parts.append(aliases[node.id])
        return ".".join(reversed(parts))
    return None


def scan_source(source: str, forbidden, filename: str = "<solution>") -> list[tuple[int, str]]:
    """(line, forbidden name) for each place the source names a forbidden callable."""
    tree = ast.parse(source, filename=filename)
    aliases = _import_aliases(tree)
    forbidden = set(forbidden)
    tensor_methods = {f.rsplit(".", 1)[1]: f for f in forbidden if f.startswith("torch.Tensor.")}
    hits: list[tuple[int, str]] = []
    seen_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                f"{node.module}.{a.name}" for a in node.names if node.module]
            for name in names:
                hit = _match(name, forbidden)
                if hit:
                    hits.append((node.lineno, hit))
        elif isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in seen_nodes:
            # Mark the inner nodes so "torch.nn.functional.one_hot" is reported once.
            inner = node.value if isinstance(node, ast.Attribute) else None
            while isinstance(inner, ast.Attribute):
                seen_nodes.add(id(inner))
                inner = inner.value
            dotted = _dotted(node, aliases)
            hit = _match(dotted, forbidden) if dotted else None
            if hit is None and isinstance(node, ast.Attribute) and node.attr in tensor_methods and dotted is None:
                hit = tensor_methods[node.attr]  # x.softmax(...) on a tensor
            if hit:
                hits.append((node.lineno, hit))
    return sorted(set(hits))


def _match(dotted: str, forbidden: set[str]) -> str | None:
    for name in forbidden:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return None
