"""The sandboxed worker: imports one kata's solution and answers the grader's requests.

Started by `torchkata.grading.sandbox` as ``python -I -m torchkata.grading.worker --rfd R --wfd W ...``,
possibly inside fresh mount/network/pid namespaces. Before touching the solution it hides
the hidden suite and the references (tmpfs mounts) and drops to an unprivileged user when
asked to. Requests and answers are plain data (`torchkata.grading.wire`); the solution's stdout and
stderr go to a capped log file, never to the wire.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import traceback
import types


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _closed_ancestor(path: str) -> str | None:
    """The first folder above PATH that others cannot traverse (e.g. /root holding pyenv)."""
    current = "/"
    for part in [p for p in os.path.normpath(path).split("/") if p]:
        current = os.path.join(current, part)
        if current != path and os.path.isdir(current) and not os.stat(current).st_mode & 0o001:
            return current
    return None


def _expose(paths: list[str], home: str) -> None:
    """Keep PATHS reachable for the worker's uid: a closed ancestor is covered by an open tmpfs holding
    bind mounts of just those paths (the rest of it, /root for instance, disappears)."""
    stage = os.path.join(home, ".stage")
    for n, path in enumerate(p for p in paths if os.path.isdir(p)):
        ancestor = _closed_ancestor(path)
        if ancestor is None:
            continue
        os.makedirs(f"{stage}/{n}", exist_ok=True)
        _mount("--bind", path, f"{stage}/{n}")
        if not os.path.ismount(ancestor):
            _mount("-t", "tmpfs", "-o", "size=64k,mode=755", "torchkata-open", ancestor)
        os.makedirs(path, exist_ok=True)
        _mount("--bind", f"{stage}/{n}", path)


def _harden(args) -> None:
    for path in args.hide:
        # Inside our own mount namespace: the hidden suite and references become empty folders.
        _mount("-t", "tmpfs", "-o", "size=64k,mode=000", "torchkata-hidden", path)
    if args.uid is not None:
        _expose(args.expose, args.home)
    if args.uid is not None:
        os.setgroups([])
        os.setgid(args.gid)
        os.setuid(args.uid)
    os.chdir(args.home)


def _install_drivers(sources: dict[str, str]) -> dict:
    """The suite's scenario drivers, from source sent over the wire (tests/ is not readable here)."""
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
    wire_form = describe(err)
    return {"ok": False, **wire_form, "message": wire_form["message"][:4000],
            "traceback": "".join(traceback.format_list(frames))[-4000:]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rfd", type=int, required=True)
    parser.add_argument("--wfd", type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--expose", action="append", default=[])
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--gid", type=int, default=None)
    args = parser.parse_args(argv)
    _harden(args)

    from torchkata.grading import wire  # imports torch once, before any solution code

    rfd, wfd = args.rfd, args.wfd
    hello = wire.receive(rfd)
    try:
        from torchkata.catalog import get_kata
        from torchkata.harness import Kata, perform

        drivers = _install_drivers(hello.get("drivers", {}))
        spec = get_kata(hello["kata"])
        kata = Kata(spec, hello["root"])
    except BaseException as err:  # noqa: BLE001 - the solution may raise anything, SystemExit included
        wire.send(wfd, _error(err, hello["root"]))
        os._exit(3)
    wire.send(wfd, {"ok": True})

    while True:
        try:
            request = wire.receive(rfd)
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
                            "message": f"the result could not be sent back as plain data: {err}"[:2000],
                            "traceback": ""})


if __name__ == "__main__":
    main()
