"""The authoring kit's commands, added to the torchkata CLI through entry points (never shipped)."""
from __future__ import annotations

import os
import subprocess
import sys

import click

from torchkata.learn.cli import kata_or_exit, project_at


@click.command()
@click.option("--jobs", "-j", default="auto", show_default=True, help="pytest-xdist workers (0 = no xdist)")
@click.option("--kata", "katas", multiple=True, help="only these katas (repeatable)")
@click.option("--root", type=click.Path(file_okay=False), help="project folder (default: found from here)")
def verify(jobs, katas, root):
    """What `make check` runs: references pass, stubs fail every test, mutants are caught."""
    project = project_at(root)
    targets = [str(project.suite_file(kata_or_exit(k))) for k in katas] or [str(project.suite)]
    cmd = [sys.executable, "-m", "pytest", *targets, "--torchkata-verify", "-q", "--tb=no", "-rN",
           "-p", "no:cacheprovider"]
    if str(jobs) not in ("0", "1"):
        cmd += ["-n", str(jobs)]
    env = dict(os.environ)
    sys.exit(subprocess.run(cmd, cwd=project.root, env=env).returncode)
