"""The sandboxed worker: imports one kata's solution and answers the grader's requests.

Started by `torchkata.grading.sandbox` as ``python -I -m torchkata.grading.worker --rfd R --wfd W
[--uid U --gid G]``, normally inside bubblewrap (private mount, pid, network, ipc, uts and cgroup
namespaces; read-only binds of the interpreter, its packages and the kata's module). Before it
touches the solution it drops to the unprivileged uid it was given and closes every inherited
file descriptor but the two pipes and stdio. Requests and answers are plain data
(`torchkata.grading.wire`); the solution's stdout and stderr go to a capped log file, never to the wire.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import types

MESSAGE_LIMIT = 2000    # characters of an exception message sent back
TRACEBACK_LIMIT = 4000  # characters of the solution's frames sent back


def _drop_privileges(uid: int | None, gid: int | None) -> None:
    if uid is None:
        return
    os.setgroups([])
    os.setgid(gid if gid is not None else uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover - setuid never half-works
        os._exit(70)


def _close_inherited_fds(keep: set[int]) -> None:
    """Nothing the grader (or bubblewrap) had open reaches the solution but stdio and the pipes."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _install_drivers(sources: dict[str, str]) -> dict:
    """The kata's own scenario drivers, from source sent over the wire (tests/ is not readable here)."""
    package = types.ModuleType("drivers")
    package.__path__ = []
    sys.modules["drivers"] = package
    for name, source in sorted(sources.items()):
        module = types.ModuleType(f"drivers.{name}")
        module.__file__ = f"<hidden suite: drivers/{name}.py>"
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own suite's code
    return {f"drivers.{name}": sys.modules[f"drivers.{name}"] for name in sources}


def _error(err: BaseException, solution_root: str) -> dict:
    from torchkata.errors import describe

    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith(solution_root)]
    try:
        wire_form = describe(err)
    except BaseException:  # noqa: BLE001 - a solution's __str__ may raise anything
        wire_form = {"kind": "other", "type": type(err).__name__, "message": "<the message could not be read>"}
    return {"ok": False, **wire_form, "type": str(wire_form["type"])[:200],
            "message": str(wire_form["message"])[:MESSAGE_LIMIT],
            "traceback": "".join(traceback.format_list(frames))[-TRACEBACK_LIMIT:]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rfd", type=int, required=True)
    parser.add_argument("--wfd", type=int, required=True)
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--gid", type=int, default=None)
    args = parser.parse_args(argv)
    _drop_privileges(args.uid, args.gid)
    rfd, wfd = args.rfd, args.wfd
    _close_inherited_fds({rfd, wfd})
    os.chdir(os.environ.get("HOME", "/"))
    sys.argv = [sys.argv[0]]  # the solution has no business with how its worker was started

    # torch and the harness are imported before the kata is known (a spare worker does this while
    # the previous kata's tests run), and before any solution code.
    from torchkata.catalog import get_kata
    from torchkata.grading import wire
    from torchkata.harness import Kata, perform

    hello = wire.receive(rfd, check=False)
    try:
        drivers = _install_drivers(hello.get("drivers", {}))
        spec = get_kata(hello["kata"])
        kata = Kata(spec, hello["root"])
    except BaseException as err:  # noqa: BLE001 - the solution may raise anything, SystemExit included
        wire.send(wfd, _error(err, hello["root"]))
        os._exit(3)
    wire.send(wfd, {"ok": True})

    while True:
        try:
            request = wire.receive(rfd, check=False)
        except EOFError:
            os._exit(0)
        try:
            result = perform(kata, request, drivers)
            answer = {"ok": True, "result": result}
        except BaseException as err:  # noqa: BLE001 - SystemExit from the solution fails one test only
            answer = _error(err, hello["root"])
        try:
            wire.send(wfd, answer)
        except Exception as err:  # noqa: BLE001 - an unsendable result is the solution's error
            wire.send(wfd, {"ok": False, "kind": "torchkata", "type": "NotPlainData",
                            "message": f"the result could not be sent back as plain data: {err}"[:MESSAGE_LIMIT],
                            "traceback": ""})


if __name__ == "__main__":
    main()
