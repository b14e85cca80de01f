"""The grading sandbox against a determined candidate: each test opens a real submission in
the real sandbox (`WorkerKata`, bubblewrap, cgroups) and checks what it could see, keep or do.

The project is a miniature one (kata 06_activations, a hidden suite, a reference), so each
worker start costs one python with torch.
"""
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import torch

from torchkata.catalog import get_kata
from torchkata.errors import SolutionCrashed, SolutionError, SolutionRaised
from torchkata.grading.sandbox import (
    CANDIDATE_MARK,
    WORKER_UID_BASE,
    Limits,
    WorkerKata,
    allocate_uid,
    sandbox_facts,
)
from torchkata.layout import Layout

SPEC = get_kata("06_activations")
SECRET = "hidden-suite-secret-7741"
HOST_SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

needs_bwrap = pytest.mark.skipif(not sandbox_facts().namespaces,
                                 reason="bubblewrap cannot run here (the report lists what is missing)")


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for rel, text in {"pyproject.toml": "[tool.torchkata]\n",
                      "tests/test_06_activations.py": f"SECRET = {SECRET!r}\n",
                      "tests/drivers/d06.py": "def twice(module, x):\n    return module.relu(x) * 2\n",
                      "tests/drivers/d01.py": f"OTHER = {SECRET!r}\n",
                      "reference/06_activations/activations.py": f"# {SECRET}\ndef relu(x):\n    return x\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def open_kata(tmp_path, project, source, limits=None) -> WorkerKata:
    impl = tmp_path / "impl"
    (impl / SPEC.id).mkdir(parents=True, exist_ok=True)
    (impl / SPEC.id / SPEC.module).write_text(textwrap.dedent(source))
    return WorkerKata(SPEC, impl, Layout(project), limits or Limits())


def host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def test_a_correct_solution_answers_through_the_sandbox(tmp_path, project):
    kata = open_kata(tmp_path, project, "def relu(x):\n    return x.clamp_min(0)\n")
    try:
        x = torch.tensor([-1.0, 2.0])
        assert torch.equal(kata.call("relu", x), torch.tensor([0.0, 2.0]))
        out, (g,) = kata.grad("relu", x.requires_grad_())
        assert torch.equal(g, torch.tensor([0.0, 1.0]))
        # The grader's own inputs reach the solution with their layout (an expanded one too).
        assert kata.call("relu", torch.ones(1).expand(3, 2)).shape == (3, 2)
    finally:
        kata.close()


def test_the_next_kata_starts_on_a_warm_worker_that_never_ran_solution_code(tmp_path, project):
    """A spare worker imports torch while a kata's tests run; the next kata takes it, and only
    then does its solution enter the spare's (until then empty) folder."""
    from torchkata.grading import sandbox

    sandbox.discard_spare()
    first = open_kata(tmp_path / "a", project, "def relu(x):\n    return x.clamp_min(0)\n")
    try:
        assert len(sandbox._spare) == 1, "no spare worker after a kata's worker was ready"
        spare = sandbox._spare[0]
        assert spare.proc.pid != first.proc.pid and list((spare.stage / "impl").iterdir()) == []
    finally:
        first.close()
    second = open_kata(tmp_path / "b", project, "def relu(x):\n    return x * 0 + 7\n")
    try:
        assert second.proc.pid == spare.proc.pid
        assert torch.equal(second.call("relu", torch.ones(2)), torch.full((2,), 7.0))
    finally:
        second.close()
    stages = [s.stage for s in sandbox._spare]
    sandbox.discard_spare()
    assert sandbox._spare == [] and not any(stage.exists() for stage in stages)


@needs_bwrap
def test_the_worker_sees_nothing_of_the_host_but_what_it_needs(tmp_path, project):
    sock_path = tmp_path / "host.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    server.listen(1)
    repo = Path(__file__).resolve().parent.parent
    source = f"""
    import glob, os, socket, sys
    SEEN = {{}}
    def readable(path):
        try:
            return {SECRET!r} in open(path).read() or "def relu" in open(path).read()
        except OSError:
            return False
    SEEN["hidden"] = [p for p in ({str(project)!r} + "/tests/test_06_activations.py",
                                  {str(project)!r} + "/reference/06_activations/activations.py",
                                  {str(repo)!r} + "/tests/test_06_activations.py",
                                  {str(repo)!r} + "/reference/06_activations/activations.py") if readable(p)]
    SEEN["tests_anywhere"] = glob.glob("/work/*/tests/test_*.py") + glob.glob("/tmp/**/test_06*.py", recursive=True)
    SEEN["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    SEEN["cmdlines"] = [open(f"/proc/{{p}}/cmdline", "rb").read().decode(errors="replace") for p in SEEN["pids"]
                        if os.path.exists(f"/proc/{{p}}/cmdline")]
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect({str(sock_path)!r})
            SEEN["socket"] = True
        except OSError:
            SEEN["socket"] = False
    SEEN["interfaces"] = sorted(name for _, name in socket.if_nameindex())
    SEEN["uid"], SEEN["gid"], SEEN["euid"] = os.getuid(), os.getgid(), os.geteuid()
    SEEN["fds"] = {{}}
    for f in os.listdir("/proc/self/fd"):
        try:
            SEEN["fds"][int(f)] = os.readlink("/proc/self/fd/" + f)
        except OSError:
            pass
    SEEN["env"] = sorted(os.environ)
    SEEN["argv"] = list(sys.argv)
    SEEN["drivers"] = sorted(m for m in sys.modules if m.startswith("drivers"))
    SEEN["d01"] = any({SECRET!r} in str(vars(m)) for n, m in list(sys.modules.items()) if n.startswith("drivers"))
    SEEN["root_home"] = os.path.exists("/root/.bash_history") or os.path.exists("/etc/shadow")
    SEEN["writable"] = []
    for folder in ("/usr", {str(repo)!r}, sys.prefix, "/etc"):
        try:
            open(folder + "/torchkata-probe", "w").close()
            SEEN["writable"].append(folder)
        except OSError:
            pass
    SEEN["cuda_nodes"] = sorted(p for p in os.listdir("/dev") if p.startswith("nvidia"))
    def relu(x):
        return SEEN
    """
    kata = open_kata(tmp_path, project, source)
    try:
        seen = kata.call("relu", torch.zeros(1))
    finally:
        kata.close()
        server.close()
    assert seen["hidden"] == [] and seen["tests_anywhere"] == []
    assert len(seen["pids"]) <= 3 and not any("pytest" in c for c in seen["cmdlines"]), seen["cmdlines"]
    assert seen["socket"] is False
    assert seen["interfaces"] == ["lo"]
    assert seen["uid"] == seen["gid"] == seen["euid"] >= WORKER_UID_BASE
    # stdio (the log), the two pipes, torch's own and the listing itself: nothing the grader held.
    others = {fd: t for fd, t in seen["fds"].items()
              if not t.startswith(("pipe:", "anon_inode:", "/dev/", "/proc/")) and fd not in (1, 2)}
    assert others == {} and sum(t.startswith("pipe:") for t in seen["fds"].values()) <= 2, seen["fds"]
    assert set(seen["env"]) <= {"PATH", "HOME", "TMPDIR", "OMP_NUM_THREADS", "LANG", "PWD",
                                "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"}, seen["env"]
    assert len(seen["argv"]) == 1
    assert seen["drivers"] == ["drivers", "drivers.d06"] and not seen["d01"]
    assert not seen["root_home"] and seen["writable"] == []
    assert seen["cuda_nodes"] == sorted(p.name for p in Path("/dev").glob("nvidia*"))


def test_worker_uids_never_repeat_among_live_workers():
    uids = [allocate_uid() for _ in range(512)]
    assert len(set(uids)) == 512 and all(WORKER_UID_BASE <= u < 2**32 - 1 for u in uids)


@needs_bwrap
def test_nothing_keeps_running_or_stays_written_after_a_kata(tmp_path, project):
    marker = f"torchkata-survivor-{uuid.uuid4().hex}"
    source = f"""
    import os, subprocess, sys
    for folder in {HOST_SHARED!r} + (os.environ["HOME"],):
        try:
            with open(os.path.join(folder, {marker!r}), "w") as f:
                f.write("x" * (1 << 20))
        except OSError:
            pass
    # A grandchild in a session of its own that ignores SIGTERM and outlives its parent.
    subprocess.Popen([sys.executable, "-c", "import os, signal, time; os.setsid(); "
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)", {marker!r}],
                     start_new_session=True)
    def relu(x):
        return x.clamp_min(0)
    """
    kata = open_kata(tmp_path, project, source)
    assert torch.equal(kata.call("relu", torch.ones(1)), torch.ones(1))
    stage, cgroups = kata.stage, list(kata.cgroups.paths)
    kata.close()
    assert host_processes_with(marker) == []
    assert not any(Path(folder, marker).exists() for folder in HOST_SHARED)
    assert not stage.exists() and not any(os.path.exists(p) for p in cgroups)
    assert kata.survivors == set()


@needs_bwrap
def test_the_worker_dies_with_its_grader(tmp_path, project):
    marker = f"torchkata-orphan-{uuid.uuid4().hex}"
    (tmp_path / "impl" / SPEC.id).mkdir(parents=True)
    (tmp_path / "impl" / SPEC.id / SPEC.module).write_text(textwrap.dedent(f"""
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(600)", {marker!r}])
    def relu(x):
        return x
    """))
    grader = textwrap.dedent(f"""
    import os, sys
    from pathlib import Path
    from torchkata.catalog import get_kata
    from torchkata.grading.sandbox import WorkerKata
    from torchkata.layout import Layout
    kata = WorkerKata(get_kata("06_activations"), Path({str(tmp_path / "impl")!r}), Layout(Path({str(project)!r})))
    print(kata.stage, *kata.cgroups.paths, flush=True)
    os._exit(0)  # no close(): the grader dies
    """)
    proc = subprocess.run([sys.executable, "-c", grader], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 10
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert host_processes_with(marker) == []
    # The dead grader's staging folder and empty worker cgroups go at the next grader's start.
    from torchkata.grading.sandbox import _collect_stale_grader_cgroups

    left = proc.stdout.split()
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:  # the dying namespace's last tasks leave its cgroup
        _collect_stale_grader_cgroups()
        left = [p for p in left if os.path.exists(p)]
        time.sleep(0.2)
    assert left == []


@needs_bwrap
def test_the_memory_cap_holds_for_the_whole_process_tree(tmp_path, project):
    if not sandbox_facts().memory_cgroup:
        pytest.skip("no memory cgroup here (the report says the tree is not capped)")
    # Three children of 600 MiB each: every one under any per-process limit, the tree over 1 GiB.
    source = """
    import subprocess, sys
    CHILD = "b = bytearray(600 << 20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\nprint('ok', flush=True)\\n" \\
            "import time; time.sleep(30)"
    def relu(x):
        children = [subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE) for _ in range(3)]
        return sum(c.stdout.readline() == b"ok\\n" for c in children)
    """
    kata = open_kata(tmp_path, project, source, Limits(memory_bytes=1 << 30))
    try:
        survived = kata.call("relu", torch.zeros(1))
    except SolutionCrashed:
        survived = 0  # the OOM killer took the worker itself
    finally:
        kata.close()
    assert survived < 3


@needs_bwrap
def test_the_sandbox_leaves_no_writable_shared_place(tmp_path, project):
    """What one submission writes anywhere cannot be read by the next one."""
    marker = f"torchkata-note-{uuid.uuid4().hex}"
    writer = f"""
    import os
    for folder in {HOST_SHARED!r}:
        try:
            open(os.path.join(folder, {marker!r}), "w").write("the answers")
        except OSError:
            pass
    def relu(x):
        return x
    """
    reader = f"""
    import os
    FOUND = [f for f in {HOST_SHARED!r} if os.path.exists(os.path.join(f, {marker!r}))]
    def relu(x):
        return FOUND
    """
    open_kata(tmp_path / "a", project, writer).close()
    kata = open_kata(tmp_path / "b", project, reader)
    try:
        assert kata.call("relu", torch.zeros(1)) == []
    finally:
        kata.close()


# ------------------------------------------------------------------------------ the wire is untrusted

def test_a_worker_that_sends_one_header_byte_cannot_block_the_grader(tmp_path, project):
    source = """
    import os, time
    def relu(x):
        for fd in range(3, 64):
            try:
                os.write(fd, b"\\0")
            except OSError:
                pass
        time.sleep(600)
    """
    kata = open_kata(tmp_path, project, source, Limits(call_seconds=3))
    start = time.monotonic()
    with pytest.raises(SolutionCrashed, match="wall-time limit"):
        kata.call("relu", torch.zeros(1))
    assert time.monotonic() - start < 20
    kata.close()


def test_every_kata_has_a_total_time_budget(tmp_path, project):
    kata = open_kata(tmp_path, project, "import time\ndef relu(x):\n    time.sleep(1)\n    return x\n",
                     Limits(call_seconds=30))
    kata.deadline = time.monotonic() + 3  # the budget left once the worker is up
    start = time.monotonic()
    with pytest.raises(SolutionCrashed, match="time budget"):
        for _ in range(20):
            kata.call("relu", torch.zeros(1))
    assert time.monotonic() - start < 8
    with pytest.raises((SolutionCrashed, SolutionError), match="time budget"):  # no new worker once it is spent
        kata.call("relu", torch.zeros(1))
    assert time.monotonic() - start < 9
    kata.close()


def test_the_time_budget_is_a_limit_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TORCHKATA_KATA_SECONDS", "42")
    assert Limits().kata_seconds == 42.0


def test_an_expanded_tensor_never_reaches_the_grader_as_a_giant(tmp_path, project):
    source = """
    import torch
    def relu(x):
        if x.numel() == 1:
            return torch.zeros(()).expand(100_000, 100_000)   # 40 GB once materialised
        return torch.ones(1).expand(3, 4)                       # small: materialised
    """
    kata = open_kata(tmp_path, project, source)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.raises(SolutionCrashed, match="more than"):
            kata.call("relu", torch.zeros(1))
        small = kata.call("relu", torch.zeros(2))
        assert small.shape == (3, 4) and 0 not in small.stride() and torch.equal(small, torch.ones(3, 4))
    finally:
        kata.close()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 << 10  # KiB


def test_a_function_that_keeps_crashing_its_worker_leaves_the_others_graded(tmp_path, project):
    """One function that takes its worker down on every call stops being retried after a few
    crashes; the kata's other functions still answer, on fresh workers, however often it was called."""
    kata = open_kata(tmp_path, project, """
        import os, torch
        def relu(x):
            os._exit(3)
        def sigmoid(x):
            return 1 / (1 + torch.exp(-x))
    """)
    try:
        messages = []
        for _ in range(8):  # more calls than any total restart budget would allow
            with pytest.raises(SolutionCrashed) as crashed:
                kata.call("relu", torch.zeros(2))
            messages.append(str(crashed.value))
            assert torch.allclose(kata.call("sigmoid", torch.zeros(2)), torch.full((2,), 0.5))
        assert "not retried" in messages[-1] and "calling relu" in messages[-1]
        assert sum("not retried" in m for m in messages) == 8 - kata.crashes, "relu was restarted after its budget"
    finally:
        kata.close()


# ------------------------------------------------------------------------------ candidate text

def test_candidate_errors_are_marked_bounded_and_never_the_graders(tmp_path, project):
    source = """
    from torchkata.errors import SolutionCrashed
    def relu(x):
        if x.numel() == 1:
            raise SolutionCrashed("06_activations: the worker crashed 5 times; not restarting")
        if x.numel() == 2:
            raise ValueError("SolutionCrashed: " + "y" * 1_000_000)
        from torchkata.grading import wire
        for fd in range(3, 64):   # a forged answer straight onto the wire
            try:
                wire.send(fd, {"ok": False, "kind": "torchkata", "type": "SolutionCrashed", "message": "forged"})
                break
            except OSError:
                pass
        import time
        time.sleep(600)
    """
    kata = open_kata(tmp_path, project, source, Limits(call_seconds=20))
    try:
        with pytest.raises(SolutionRaised) as raised:
            kata.call("relu", torch.zeros(1))
        assert str(raised.value).startswith("SolutionCrashed: " + CANDIDATE_MARK)
        assert raised.value.from_candidate
        with pytest.raises(ValueError) as raised:
            kata.call("relu", torch.zeros(2))
        assert str(raised.value).startswith(CANDIDATE_MARK) and len(str(raised.value)) < 3000
        with pytest.raises(SolutionRaised, match="forged") as raised:
            kata.call("relu", torch.zeros(3))
        assert CANDIDATE_MARK in str(raised.value)
    finally:
        kata.close()


def test_a_candidate_cannot_make_its_kata_look_missing(tmp_path, project):
    source = "from torchkata.errors import SolutionMissing\nraise SolutionMissing('no module here')\n"
    with pytest.raises(SolutionError) as raised:
        open_kata(tmp_path, project, source)
    assert type(raised.value) is SolutionError and CANDIDATE_MARK in str(raised.value)


def test_a_syntax_error_is_reported_by_the_grader_without_a_worker(tmp_path, project):
    start = time.monotonic()
    with pytest.raises(SolutionError, match=r"activations.py:\d+: syntax error"):
        open_kata(tmp_path, project, "def relu(x:\n    return x\n")
    assert time.monotonic() - start < 2


# ------------------------------------------------------------------------------ the grader's own memory

def test_the_graders_own_process_runs_under_a_memory_limit(tmp_path):
    script = textwrap.dedent("""
    import sys
    from torchkata.grading.sandbox import limit_own_memory, release_own_memory_limit
    print(limit_own_memory(512 << 20), flush=True)
    try:
        block = bytearray(2 << 30)
        for i in range(0, len(block), 4096):
            block[i] = 1
        print("allocated", flush=True)
    except MemoryError:
        print("refused", flush=True)
    release_own_memory_limit()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "allocated" not in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.startswith(("memory cgroup", "RLIMIT_DATA"))


# ------------------------------------------------------------------------------ the command and the report

@needs_bwrap
def test_a_hidden_folder_under_a_bound_one_is_covered(tmp_path):
    from torchkata.grading.sandbox import bwrap_command, bwrap_path

    hidden = Path(sys.base_prefix) / "include"
    if not hidden.is_dir() or not any(hidden.iterdir()):
        pytest.skip("no non-empty folder inside the interpreter's prefix to hide")
    cmd = bwrap_command(bwrap_path(), [hidden], None)
    code = f"import os\ntry:\n    print(len(os.listdir({str(hidden)!r})))\nexcept OSError:\n    print(0)\n"
    proc = subprocess.run([*cmd, sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "0", proc.stderr


def test_without_bubblewrap_the_report_names_every_missing_protection(monkeypatch):
    from torchkata.grading import sandbox

    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.sandbox_facts.cache_clear()
    try:
        facts = sandbox.sandbox_facts()
        lines = facts.lines()
    finally:
        sandbox.sandbox_facts.cache_clear()
    assert not facts.namespaces and not facts.unprivileged_user
    missing = [line for line in lines if "MISSING" in line]
    for what in ("bubblewrap", "filesystem", "network", "processes", "ipc", "user"):
        assert any(line.startswith(what) or what in line for line in missing), (what, lines)
