"""The torchkata pytest plugin (registered through the ``pytest11`` entry point).

- ``--impl DIR`` chooses the implementation root (a folder laid out like ``katas/``);
  ``pytest katas/<id>`` / ``pytest reference/<id>`` run kata <id>'s hidden suite against
  that folder, ``pytest tests`` runs every suite against ``katas/``.
- fixtures ``kata`` (the only door to a solution) and ``device`` (cpu, cuda).
- hypothesis profiles ``dev``, ``ci``, ``grade``, ``verify``.
- ``--torchkata-verify``: every suite against the reference, the stub and every mutant in
  one session (what ``make check`` runs), ending with a table per kata.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings

from torchkata.catalog import KataSpec, load_catalog

DEVICES = ("cpu", "cuda")

# No `explain` phase anywhere: it re-runs a failing example hundreds of times under
# sys.settrace (tens of seconds per failing test on a small machine) to annotate lines.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               phases=_PHASES)
settings.register_profile("dev", max_examples=20, print_blob=True, report_multiple_bugs=False, **_common)
settings.register_profile("ci", max_examples=40, derandomize=True, database=None, print_blob=True,
                          report_multiple_bugs=False, **_common)
settings.register_profile("grade", max_examples=80, derandomize=True, database=None, report_multiple_bugs=False,
                          **_common)
# verify: the ci examples, no shrinking (a mutant only has to fail, not be explained).
settings.register_profile("verify", max_examples=40, derandomize=True, database=None, report_multiple_bugs=False,
                          verbosity=Verbosity.quiet, **{**_common, "phases": [Phase.explicit, Phase.reuse, Phase.generate]})


def pytest_addoption(parser):
    group = parser.getgroup("torchkata")
    group.addoption("--impl", dest="torchkata_impl", default=None, metavar="DIR",
                    help="implementation root: a folder laid out like katas/ (default: katas/, "
                         "or the folder named on the command line)")
    group.addoption("--suite", dest="torchkata_suite", default=None, metavar="DIR",
                    help="folder of the hidden suites (default: <rootdir>/tests)")
    group.addoption("--device", dest="torchkata_device", default="all", choices=("cpu", "cuda", "all"),
                    help="devices to run kata tests on (default: all; cuda skips with a reason when absent)")
    group.addoption("--torchkata-verify", dest="torchkata_verify", action="store_true",
                    help="run every suite against reference, stub and mutants (make check)")
    group.addoption("--torchkata-report", dest="torchkata_report", default=None, metavar="FILE",
                    help="write every kata test's outcome and failure message as JSON (used by the CLI)")
    group.addoption("--sandbox", dest="torchkata_sandbox", action="store_true",
                    help="run each solution in a sandboxed worker process (what `torchkata grade` uses)")
    group.addoption("--torchkata-verify-json", dest="torchkata_verify_json", default=None, metavar="FILE",
                    help="with --torchkata-verify, also write the per-kata table as JSON")


# ------------------------------------------------------------------ implementation roots

def kata_id_of(path: Path) -> str | None:
    """The kata a suite file tests: test_<id>.py, or test_<id>_<suffix>.py."""
    stem = Path(path).stem
    if not stem.startswith("test_"):
        return None
    catalog = load_catalog()
    name = stem[len("test_"):]
    # The longest catalog id the name starts with: 02_numpy_bridge, not 02_numpy + suffix.
    hits = [k for k in catalog if name == k or name.startswith(k + "_")]
    return max(hits, key=len) if hits else None


def _looks_like_impl_root(p: Path) -> bool:
    return p.is_dir() and any((p / k.id / k.module).is_file() for k in load_catalog().values())


def _rewrite_args(config) -> None:
    """Turn `pytest katas/<id>` into `pytest tests/test_<id>.py --impl katas` (and friends)."""
    rootdir = Path(config.rootpath)
    suite = Path(config.option.torchkata_suite or rootdir / "tests").resolve()
    config.option.torchkata_suite = str(suite)
    catalog = load_catalog()
    impl = None
    new_args = []
    for arg in config.args:
        path_part, sep, rest = str(arg).partition("::")
        p = (Path(config.invocation_params.dir) / path_part).resolve()
        kata_dir = p if p.is_dir() else p.parent
        if kata_dir.name in catalog and (kata_dir / catalog[kata_dir.name].module).exists() \
                and not str(kata_dir).startswith(str(suite)):
            impl = impl or kata_dir.parent
            target = suite / f"test_{kata_dir.name}.py"
            new_args.append(str(target) + (sep + rest if sep else ""))
            continue
        if _looks_like_impl_root(p) and not str(p).startswith(str(suite)):
            impl = impl or p
            new_args.append(str(suite))
            continue
        new_args.append(arg)
    config.args[:] = new_args
    if config.option.torchkata_impl is None:
        config.option.torchkata_impl = str(impl or rootdir / "katas")
    config.option.torchkata_impl = str(Path(config.option.torchkata_impl).resolve())


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test that trains a model (seconds, not milliseconds)")
    if config.getoption("hypothesis_profile", None) is None:
        if config.option.torchkata_verify:
            settings.load_profile("verify")
        else:
            settings.load_profile("ci" if os.environ.get("CI") else "dev")
    _rewrite_args(config)
    # The suite folder holds tests/drivers: make it importable however pytest imports tests.
    suite = config.option.torchkata_suite
    if suite and suite not in sys.path:
        sys.path.insert(0, suite)
    if config.option.torchkata_verify:
        from torchkata.verify import VerifySession

        verify = VerifySession(config, Path(config.rootpath))
        config.stash[_VERIFY] = verify
        config.pluginmanager.register(verify, "torchkata-verify")
    if config.option.torchkata_report and not hasattr(config, "workerinput"):
        from torchkata.report import OutcomeRecorder

        config.pluginmanager.register(OutcomeRecorder(Path(config.option.torchkata_report)), "torchkata-report")


_VERIFY = pytest.StashKey()


def _spec_for_module(module) -> KataSpec:
    kata_id = getattr(module, "KATA", None) or kata_id_of(Path(module.__file__))
    if kata_id is None:
        raise pytest.UsageError(f"{module.__file__}: cannot tell which kata this suite tests "
                                "(name it tests/test_<id>.py or set KATA = '<id>')")
    return load_catalog()[kata_id]


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        choice = metafunc.config.option.torchkata_device
        devices = DEVICES if choice == "all" else (choice,)
        metafunc.parametrize("device", devices, indirect=True, scope="session")
    verify = metafunc.config.stash.get(_VERIFY, None)
    if verify is not None and "kata" in metafunc.fixturenames:
        spec = _spec_for_module(metafunc.module)
        metafunc.parametrize("_torchkata_impl", verify.labels(spec.id), indirect=True, scope="module")


def _learner_traceback(original, hidden: tuple[str, ...]):
    """Item._traceback_filter without hypothesis' and torchkata's own frames: a learner reads
    the test line and their own code, not the machinery between them."""
    def filtered(excinfo):
        traceback = original(excinfo)
        try:
            kept = type(traceback)([e for e in traceback if not str(e.path).startswith(hidden)])
        except Exception:  # noqa: BLE001 - private pytest API: fall back to pytest's own view
            return traceback
        return kept if len(kept) else traceback
    return filtered


def pytest_collection_modifyitems(config, items):
    import hypothesis

    hidden = (str(Path(hypothesis.__file__).parent), str(Path(__file__).parent))
    for item in items:
        module = getattr(item, "module", None)
        if module is None or "kata" not in getattr(item, "fixturenames", ()):
            continue
        if hasattr(item, "_traceback_filter") and not config.getoption("fulltrace", False):
            item._traceback_filter = _learner_traceback(item._traceback_filter, hidden)
        params = getattr(getattr(item, "callspec", None), "params", {})
        item.user_properties.append(("kata", _spec_for_module(module).id))
        item.user_properties.append(("impl", params.get("_torchkata_impl", "impl")))
        item.user_properties.append(("device", params.get("device", "-")))
        others = [f"{k}={v}" for k, v in sorted(params.items()) if k not in ("_torchkata_impl", "device")]
        test = item.originalname + (f"[{','.join(others)}]" if others else "")
        item.user_properties.append(("test", test))


# ------------------------------------------------------------------------------ fixtures

_torch_random = None


@pytest.fixture(scope="session")
def _torchkata_torch():
    """Import torch once: TF32 off, torch's global RNG seeded and restored by hypothesis."""
    global _torch_random
    import torch
    from hypothesis import register_random

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    # Kata tensors are tiny: one intra-op thread is fastest, and it keeps pytest-xdist workers
    # from fighting over cores (10-30x slowdowns measured on a busy 2-core machine).
    torch.set_num_threads(int(os.environ.get("TORCHKATA_THREADS", "1")))

    class TorchRandom:
        def seed(self, seed):
            # Not torch.manual_seed: on every example it would queue lazy CUDA/XPU seeding,
            # each formatting a stack trace (milliseconds per example on CPU-only machines).
            torch.default_generator.manual_seed(seed)
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.manual_seed_all(seed)

        def getstate(self):
            return torch.random.get_rng_state()

        def setstate(self, state):
            torch.random.set_rng_state(state)

    _torch_random = TorchRandom()  # a module-level reference: hypothesis keeps only a weakref
    register_random(_torch_random)
    return torch


@pytest.fixture(scope="session")
def device(request, _torchkata_torch):
    """torch.device('cpu') or torch.device('cuda'); cuda skips with a reason when absent."""
    torch = _torchkata_torch
    name = getattr(request, "param", "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: torch.cuda.is_available() is False on this machine")
    return torch.device(name)


@pytest.fixture(scope="module")
def _torchkata_impl(request):
    """The implementation root for this module's kata."""
    verify = request.config.stash.get(_VERIFY, None)
    if verify is not None and hasattr(request, "param"):
        return verify.root_for(_spec_for_module(request.module).id, request.param)
    return Path(request.config.option.torchkata_impl)


def _open_kata(config, spec: KataSpec, impl: Path):
    from torchkata.harness import Kata
    from torchkata.loader import SolutionMissing, module_path

    if not config.option.torchkata_sandbox:
        return Kata(spec, impl)
    from torchkata.sandbox import WorkerKata

    if not module_path(impl, spec).is_file():
        raise SolutionMissing(f"{spec.id}: no {spec.module} in {impl}/{spec.id}/")
    suite = Path(config.option.torchkata_suite)
    root = Path(config.rootpath)
    hide = [suite, root / "reference", root / "tooling_tests", root / ".git"]
    return WorkerKata(spec, impl, suite, hide)


@pytest.fixture(scope="module")
def kata(request, _torchkata_impl, _torchkata_torch):
    """The solution under test, loaded from the implementation root (see torchkata.harness)."""
    from torchkata.loader import SolutionError, SolutionMissing

    spec = _spec_for_module(request.module)
    try:
        solution = _open_kata(request.config, spec, _torchkata_impl)
    except SolutionMissing as err:
        skip_reason = str(err)
    except SolutionError as err:
        fail_reason = str(err)
    else:
        yield solution
        if hasattr(solution, "close"):
            solution.close()
        return
    # Outside the except blocks, so pytest shows one line, not a chained traceback.
    if "skip_reason" in locals():
        pytest.skip(skip_reason)
    pytest.fail(fail_reason, pytrace=False)


def pytest_report_header(config):
    verify = config.stash.get(_VERIFY, None)
    lines = [f"torchkata: implementation root {config.option.torchkata_impl}"]
    if verify is not None:
        lines = [f"torchkata verify: {verify.describe()}"]
    return lines
