"""The torchkata pytest plugin (registered through the ``pytest11`` entry point).

It acts only where pytest's rootdir is a torchkata project or take-home (a pyproject.toml
with a ``[tool.torchkata]`` table); anywhere else it adds its options and does nothing.

- ``--torchkata-impl DIR`` (ini ``torchkata_impl``) chooses the implementation root (a folder
  laid out like ``katas/``); ``pytest katas/<id>`` / ``pytest reference/<id>`` run kata <id>'s
  hidden suite against that folder, ``pytest tests`` runs every suite against ``katas/``.
- fixtures ``kata`` (the only door to a solution, see `torchkata.harness`) and ``device``.
- hypothesis profiles ``dev``, ``ci``, ``grade``, ``verify``, ``fuzz``.
- hooks (see `torchkata.hookspecs`) through which the grader's sandbox opens a solution in a
  worker and the authoring kit's verifier runs each suite against several roots.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings

from torchkata import hookspecs
from torchkata.catalog import KataSpec, load_catalog
from torchkata.layout import Layout, is_impl_root, kata_id_of_suite, kata_in_folder, suite_file_name

DEVICES = ("cpu", "cuda")

# No `explain` phase anywhere: it re-runs a failing example hundreds of times under
# sys.settrace (tens of seconds per failing test on a small machine) to annotate lines.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               phases=_PHASES)


def _register_profiles():
    """Register torchkata's hypothesis profiles. Called only in a torchkata rootdir: hypothesis has a
    `ci` profile of its own (loaded when CI is set), which other projects must keep."""
    settings.register_profile("dev", max_examples=20, print_blob=True, report_multiple_bugs=False, **_common)
    settings.register_profile("ci", max_examples=40, derandomize=True, database=None, print_blob=True,
                              report_multiple_bugs=False, **_common)
    # grade: the very examples `make check` ran (derandomized, seeded by the test, the same count as
    # verify), so every wrong solution make check proved caught is caught when grading too; with
    # shrinking, so the report shows the smallest failing input. Twice the examples doubled the
    # grading time and proved nothing more.
    settings.register_profile("grade", max_examples=40, derandomize=True, database=None,
                              report_multiple_bugs=False, **_common)
    # verify: the ci examples, no shrinking (a mutant only has to fail, not be explained).
    settings.register_profile("verify", max_examples=40, derandomize=True, database=None,
                              report_multiple_bugs=False, verbosity=Verbosity.quiet,
                              **{**_common, "phases": [Phase.explicit, Phase.reuse, Phase.generate]})
    # fuzz: random seeds and many examples, for finding what the derandomized profiles miss (make fuzz).
    settings.register_profile("fuzz", max_examples=int(os.environ.get("TORCHKATA_FUZZ_EXAMPLES", "400")),
                              derandomize=False, database=None, print_blob=True, report_multiple_bugs=False,
                              **_common)


# option name -> (ini twin, help). Every option carries the torchkata- prefix.
_PATH_OPTIONS = {
    "impl": "implementation root: a folder laid out like katas/ (default: katas/, or the folder named "
            "on the command line)",
    "suite": "folder of the hidden suites (default: <rootdir>/tests)",
}


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser):
    group = parser.getgroup("torchkata")
    for name, text in _PATH_OPTIONS.items():
        group.addoption(f"--torchkata-{name}", dest=f"torchkata_{name}", default=None, metavar="DIR", help=text)
        parser.addini(f"torchkata_{name}", text, type="string", default="")
    group.addoption("--torchkata-device", dest="torchkata_device", default=None, choices=("cpu", "cuda", "all"),
                    help="devices to run kata tests on (default: all; cuda skips with a reason when absent)")
    parser.addini("torchkata_device", "devices to run kata tests on: cpu, cuda or all", type="string", default="all")
    group.addoption("--torchkata-report", dest="torchkata_report", default=None, metavar="FILE",
                    help="write every kata test's outcome and failure message as JSON (used by the CLI and grader)")


def _setting(config, name: str) -> str | None:
    return getattr(config.option, f"torchkata_{name}", None) or config.getini(f"torchkata_{name}") or None


def is_active(config) -> bool:
    return bool(config.stash.get(_ACTIVE, False))


_ACTIVE = pytest.StashKey[bool]()


# ------------------------------------------------------------------ implementation roots

def _rewrite_args(config, layout: Layout) -> None:
    """Turn `pytest katas/<id>` into `pytest tests/test_<id>.py --torchkata-impl katas` (and friends)."""
    suite = Path(_setting(config, "suite") or layout.suite).resolve()
    config.option.torchkata_suite = str(suite)
    impl = None
    new_args = []
    for arg in config.args:
        path_part, sep, rest = str(arg).partition("::")
        p = (Path(config.invocation_params.dir) / path_part).resolve()
        inside_suite = p == suite or suite in p.parents
        kata_dir = p if p.is_dir() else p.parent
        spec = None if inside_suite else kata_in_folder(kata_dir)
        if spec is not None:
            impl = impl or kata_dir.parent
            new_args.append(str(suite / suite_file_name(spec)) + (sep + rest if sep else ""))
        elif not inside_suite and is_impl_root(p):
            impl = impl or p
            new_args.append(str(suite))
        else:
            new_args.append(arg)
    config.args[:] = new_args
    chosen = _setting(config, "impl")
    config.option.torchkata_impl = str(Path(chosen or impl or layout.katas).resolve())


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    layout = Layout(Path(config.rootpath))
    config.stash[_ACTIVE] = layout.is_project
    if not layout.is_project:
        return  # a good citizen: no profile, no argument rewriting, no sys.path edits elsewhere
    config.addinivalue_line("markers", "slow: a test that trains a model (seconds, not milliseconds)")
    config.option.torchkata_device = _setting(config, "device") or "all"
    _register_profiles()  # before hypothesis's own pytest_configure loads --hypothesis-profile
    if config.getoption("hypothesis_profile", None) is None:
        profile = config.hook.pytest_torchkata_hypothesis_profile(config=config)
        settings.load_profile(profile or ("ci" if os.environ.get("CI") else "dev"))
    _rewrite_args(config, layout)
    # The suite folder holds tests/drivers: make it importable however pytest imports tests.
    suite = config.option.torchkata_suite
    if suite and suite not in sys.path:
        sys.path.insert(0, suite)
    if config.option.torchkata_report and not hasattr(config, "workerinput"):
        from torchkata.outcomes import OutcomeRecorder

        config.pluginmanager.register(OutcomeRecorder(Path(config.option.torchkata_report)), "torchkata-report")


def spec_for_module(module) -> KataSpec:
    kata_id = kata_id_of_suite(Path(module.__file__))
    if kata_id is None:
        raise pytest.UsageError(f"{module.__file__}: cannot tell which kata this suite tests "
                                "(name it tests/test_<id>.py)")
    return load_catalog()[kata_id]


def pytest_generate_tests(metafunc):
    if not is_active(metafunc.config):
        return
    if "device" in metafunc.fixturenames:
        choice = metafunc.config.option.torchkata_device
        devices = DEVICES if choice == "all" else (choice,)
        metafunc.parametrize("device", devices, indirect=True, scope="session")
    if "kata" in metafunc.fixturenames or "solution" in metafunc.fixturenames:
        roots = metafunc.config.hook.pytest_torchkata_implementations(config=metafunc.config,
                                                              spec=spec_for_module(metafunc.module))
        if roots:
            metafunc.parametrize("_torchkata_impl", list(roots), indirect=True, scope="module")


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
    if not is_active(config):
        return
    import hypothesis

    hidden = (str(Path(hypothesis.__file__).parent), str(Path(__file__).parent))
    for item in items:
        module = getattr(item, "module", None)
        if module is None or not {"kata", "solution"} & set(getattr(item, "fixturenames", ())):
            continue
        if hasattr(item, "_traceback_filter") and not config.getoption("fulltrace", False):
            item._traceback_filter = _learner_traceback(item._traceback_filter, hidden)
        params = getattr(getattr(item, "callspec", None), "params", {})
        item.user_properties.append(("kata", spec_for_module(module).id))
        item.user_properties.append(("impl", params.get("_torchkata_impl", "impl")))
        item.user_properties.append(("device", params.get("device", "-")))
        others = [f"{k}={v}" for k, v in sorted(params.items()) if k not in ("_torchkata_impl", "device")]
        test = item.originalname + (f"[{','.join(others)}]" if others else "")
        item.user_properties.append(("test", test))


# ------------------------------------------------------------------------------ hooks

def pytest_torchkata_open_kata(config, spec: KataSpec, impl: Path):
    """The default door: the solution imported into this process (torchkata.harness.Kata)."""
    from torchkata.harness import Kata

    return Kata(spec, impl)


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
    """The implementation root for this module's kata: a (label, root) pair."""
    if hasattr(request, "param"):
        roots = request.config.hook.pytest_torchkata_implementations(config=request.config,
                                                             spec=spec_for_module(request.module))
        return roots[request.param]
    return Path(request.config.option.torchkata_impl)


@pytest.fixture(scope="module")
def kata(request, _torchkata_impl, _torchkata_torch):
    """The solution under test, loaded from the implementation root (see torchkata.harness)."""
    from torchkata.errors import SolutionError, SolutionMissing

    if not is_active(request.config):
        pytest.skip("not a torchkata project: no [tool.torchkata] in the rootdir's pyproject.toml")
    spec = spec_for_module(request.module)
    try:
        solution = request.config.hook.pytest_torchkata_open_kata(config=request.config, spec=spec, impl=_torchkata_impl)
    except SolutionMissing as err:
        skip_reason = str(err)
    except SolutionError as err:
        fail_reason = str(err)
    else:
        yield solution
        solution.close()
        return
    # Outside the except blocks, so pytest shows one line, not a chained traceback.
    if "skip_reason" in locals():
        pytest.skip(skip_reason)
    pytest.fail(fail_reason, pytrace=False)


@pytest.fixture(scope="module")
def solution(request, _torchkata_impl, _torchkata_torch):
    """The visible examples' door: the solution module itself, found like the hidden suite finds
    it (the implementation root) and called under the same guard (see Kata.guarded_module)."""
    from torchkata.errors import SolutionError
    from torchkata.harness import Kata

    if not is_active(request.config):
        pytest.skip("not a torchkata project: no [tool.torchkata] in the rootdir's pyproject.toml")
    try:
        door = Kata(spec_for_module(request.module), _torchkata_impl)
    except SolutionError as err:
        fail_reason = str(err)  # a missing module fails here: an example has nothing to skip to
    else:
        return door.guarded_module()
    pytest.fail(fail_reason, pytrace=False)


def pytest_report_header(config):
    if not is_active(config):
        return []
    return config.hook.pytest_torchkata_report_header(config=config) or \
        [f"torchkata: implementation root {config.option.torchkata_impl}"]
