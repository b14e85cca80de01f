"""Run a solution in a worker process and talk to it with plain data (grading mode).

`WorkerKata` has the interface of `torchkata.harness.Kata` (call, call_mutating, grad, run),
so a hidden test runs unchanged whether the solution lives in the pytest process or here.
The worker gets: ``python -I``, a fresh working directory and HOME holding only the kata's
module, rlimits on CPU time, address space, file size and processes, and where the machine
allows it (root and util-linux's unshare) new mount, network and pid namespaces in which the
hidden suite and references are covered by empty tmpfs mounts and the code runs as an
unprivileged uid of its own. Killing the worker kills its pid namespace: every process it started goes with it.
"""
from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from torchkata.catalog import KataSpec
from torchkata.errors import SolutionCrashed, SolutionError, rebuild
from torchkata.harness import KataBase, request
from torchkata.layout import Layout, module_in

WORKER_UID_BASE = 1_000_000  # above system and login users, below 2**31


def worker_uid(home: Path) -> int:
    """A uid (and gid) no other process uses: derived from the worker's fresh home directory's
    inode, unique while the home exists. Two workers of a parallel batch therefore cannot read
    each other's files or signal each other, and RLIMIT_NPROC (counted per uid) is the worker's alone."""
    return WORKER_UID_BASE + os.stat(home).st_ino % 1_000_000_000


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 600          # whole-worker CPU time (RLIMIT_CPU)
    # wall time for one request (import included); TORCHKATA_CALL_SECONDS overrides it
    call_seconds: float = field(default_factory=lambda: float(os.environ.get("TORCHKATA_CALL_SECONDS", "120")))
    # wall time for the worker to start and import the solution; TORCHKATA_START_SECONDS overrides it
    start_seconds: float = field(default_factory=lambda: float(os.environ.get("TORCHKATA_START_SECONDS", "180")))
    memory_bytes: int = 6 << 30     # address space; torch itself maps ~3 GiB
    file_bytes: int = 16 << 20      # any file the worker writes, its log included
    processes: int = 512            # RLIMIT_NPROC (threads count): enforced for an unprivileged uid


@dataclass
class SandboxFacts:
    """What isolation this machine gives; written into every grading report."""

    namespaces: bool
    unprivileged_user: bool
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            "network: " + ("none (new network namespace)" if self.namespaces else
                           "NOT isolated (unshare unavailable here)"),
            "hidden tests and references: " + ("unreadable (covered by tmpfs in a mount namespace)"
                                                if self.namespaces else "readable by the worker"),
            "user: " + ("an unprivileged uid of its own per worker" if self.unprivileged_user
                        else "the grader's own user"),
            "processes: " + ("confined to a pid namespace, all killed at the end" if self.namespaces
                             else "process group killed at the end"),
            "python -I, fresh working directory and HOME, rlimits on CPU, memory, file size, processes",
            *self.notes,
        ]


def _python_paths() -> list[str]:
    """Folders the worker's python needs: the interpreter's prefix and every import path."""
    import torch

    import torchkata

    paths = {sys.base_prefix, sys.prefix, str(Path(torch.__file__).parent.parent),
             str(Path(torchkata.__file__).parent.parent)}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    # Only the outermost folders: a bind mount of a parent already carries its children.
    ordered = sorted(paths, key=len)
    return [p for i, p in enumerate(ordered) if not any(p.startswith(q.rstrip("/") + "/") for q in ordered[:i])]


@lru_cache(maxsize=1)
def sandbox_facts() -> SandboxFacts:
    notes = []
    namespaces = False
    if shutil.which("unshare") and os.geteuid() == 0:
        probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
                                "--propagation", "private", "true"], capture_output=True, text=True)
        namespaces = probe.returncode == 0
        if not namespaces:
            notes.append(f"unshare failed: {probe.stderr.strip()[:200]}")
    elif os.geteuid() != 0:
        notes.append("not running as root: no namespaces, no user switch; the worker runs as the grader's user")
    return SandboxFacts(namespaces=namespaces, unprivileged_user=namespaces and os.geteuid() == 0, notes=notes)


def _exception_for(answer: dict) -> BaseException:
    """Re-create the solution's exception in the test process (see torchkata.errors)."""
    message = str(answer.get("message", ""))
    detail = f"{message}\n{answer['traceback']}" if answer.get("traceback") else message
    # A SolutionError (import, signature) stays one line for the learner.
    name = str(answer.get("type", "Exception"))
    return rebuild(str(answer.get("kind", "other")), name, message if name.startswith("Solution") else detail)


class WorkerKata(KataBase):
    """A kata's solution running in a sandboxed worker process."""

    where = "in a sandboxed worker"

    def __init__(self, spec: KataSpec, root: Path, project: Layout, limits: Limits = Limits()):
        self.spec = spec
        self.root = Path(root)
        self.project = project
        self.hide = project.hidden
        self.limits = limits
        self.facts = sandbox_facts()
        self.proc: subprocess.Popen | None = None
        self.home: Path | None = None
        self.crashes = 0
        self.last_log = ""
        self._start()

    # ------------------------------------------------------------------ process
    def _preexec(self):
        limits = self.limits
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def _start(self) -> None:
        source = module_in(self.root, self.spec)
        self.home = Path(tempfile.mkdtemp(prefix=f"torchkata-worker-{self.spec.id}-"))
        impl = self.home / "impl"
        (impl / self.spec.id).mkdir(parents=True)
        if source.is_file():
            shutil.copyfile(source, impl / self.spec.id / self.spec.module)
        log = self.home / "output.log"
        uid = worker_uid(self.home)
        if self.facts.unprivileged_user:
            for path in (self.home, impl, impl / self.spec.id, *(impl / self.spec.id).iterdir()):
                os.chown(path, uid, uid)
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        cmd = [sys.executable, "-I", "-m", "torchkata.grading.worker", "--rfd", str(to_worker_r),
               "--wfd", str(from_worker_w), "--home", str(self.home)]
        if self.facts.namespaces:
            cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--propagation", "private",
                   "--", *cmd]
            cmd += [arg for p in self.hide if p.exists() for arg in ("--hide", str(p))]
        if self.facts.unprivileged_user:
            cmd += ["--uid", str(uid), "--gid", str(uid)]
            cmd += [arg for p in _python_paths() for arg in ("--expose", p)]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "TMPDIR": str(self.home),
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "LANG": "C.UTF-8"}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.home, env=env, pass_fds=(to_worker_r, from_worker_w),
                                         preexec_fn=self._preexec, start_new_session=True)
        os.close(to_worker_r)
        os.close(from_worker_w)
        self._send_fd, self._recv_fd = to_worker_w, from_worker_r
        # Only this kata's drivers: the rest of the hidden suite never enters a worker.
        driver_file = self.project.driver_file(self.spec)
        drivers = {driver_file.stem: driver_file.read_text()} if driver_file.is_file() else {}
        answer = self._exchange({"kata": self.spec.id, "root": str(impl), "drivers": drivers}, what="importing",
                                seconds=self.limits.start_seconds)
        if not answer.get("ok"):
            err = _exception_for(answer)
            self.close()
            raise err if isinstance(err, SolutionError) else SolutionError(
                f"importing {self.spec.module} raised {answer.get('type')}: {answer.get('message')}")

    def _log_tail(self, n: int = 500) -> str:
        try:
            data = (self.home / "output.log").read_bytes()[-n:]
        except (OSError, TypeError):
            return ""
        return data.decode("utf-8", "replace")

    def _exchange(self, message: dict, *, what: str, seconds: float | None = None) -> dict:
        from torchkata.grading import wire

        seconds = self.limits.call_seconds if seconds is None else seconds
        try:
            wire.send(self._send_fd, message)
        except (BrokenPipeError, OSError):
            return self._crashed(what, "the worker is gone")
        ready, _, _ = select.select([self._recv_fd], [], [], seconds)
        if not ready:
            return self._crashed(what, f"no answer within {seconds:g} s (wall-time limit)")
        try:
            return wire.receive(self._recv_fd)
        except EOFError:
            return self._crashed(what, "the worker exited")
        except wire.WireError as err:
            return self._crashed(what, str(err))

    def _crashed(self, what: str, why: str) -> dict:
        self.crashes += 1
        code = self.close()  # keeps the tail of the worker's output in self.last_log
        tail = self.last_log
        status = f" (exit status {code})" if code is not None else ""
        output = f"; its last output: {tail.strip()[-300:]!r}" if tail.strip() else ""
        return {"ok": False, "kind": "torchkata", "type": "SolutionCrashed",
                "message": f"{self.spec.id}: {why} while {what}{status}{output}", "traceback": ""}

    def close(self) -> int | None:
        """Kill the worker and everything it started; return its exit status."""
        code = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                code = None
            self.proc = None
            for fd in (self._send_fd, self._recv_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.home is not None:
            self.last_log = self._log_tail() or self.last_log
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
        return code

    def _request(self, message: dict, what: str):
        __tracebackhide__ = True
        if self.proc is None:
            if self.crashes >= 5:
                raise SolutionCrashed(f"{self.spec.id}: the worker crashed {self.crashes} times; not restarting")
            self._start()  # a fresh worker after a crash or a timeout
        answer = self._exchange(message, what=what)
        if answer.get("ok"):
            return answer["result"]
        if answer.get("type") == "SolutionCrashed":
            raise SolutionCrashed(answer["message"])
        raise _exception_for(answer)

    # ------------------------------------------------------------------ the door (harness.OPERATIONS)
    def _do(self, op: str, target, args: tuple, kwargs: dict, what: str):
        __tracebackhide__ = True
        return self._request(request(op, target, args, kwargs), what)

    def call(self, name: str, *args, **kwargs):
        __tracebackhide__ = True
        return self._do("call", name, args, kwargs, f"calling {name}")

    def call_mutating(self, name: str, *args, **kwargs):
        __tracebackhide__ = True
        return self._do("call_mutating", name, args, kwargs, f"calling {name}")

    def grad(self, name: str, *args, grad_output=None, **kwargs):
        __tracebackhide__ = True
        out, grads = self._do("grad", name, args, {**kwargs, "grad_output": grad_output}, f"differentiating {name}")
        return out, tuple(grads)

    def run(self, driver, *args, **kwargs):
        __tracebackhide__ = True
        return self._do("run", driver, args, kwargs, f"running driver {driver.__name__}")
