"""Unpack a submission safely: checked before anything is written, capped while writing.

Refused with one line saying why: absolute paths, paths escaping the folder, links and
devices, more than MAX_FILES members, more than MAX_BYTES uncompressed (declared or actual),
and anything that is not a readable zip or tar.gz. A zip bomb is refused from its central
directory, in milliseconds, before a byte is inflated.
"""
from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

MAX_FILES = 2000
MAX_BYTES = 64 << 20  # 64 MiB uncompressed: kata modules are kilobytes
MAX_RATIO = 200       # a member inflating more than 200x is a bomb, not source code


class ArchiveRefused(ValueError):
    """The archive is unsafe or unreadable; the message is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # tarfile's errors span several lines


def _check_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused(f"absolute path in the archive: {name!r}")
    if ".." in path.parts:
        raise ArchiveRefused(f"path escaping the folder in the archive: {name!r}")
    return path


def _write_capped(source, target: Path, budget: list[int]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(1 << 16):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ArchiveRefused(f"archive inflates past {MAX_BYTES >> 20} MiB")
            out.write(chunk)


def extract_zip(archive: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArchiveRefused(f"{archive.name} is not a readable zip archive ({err})") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_FILES:
            raise ArchiveRefused(f"{len(members)} files in the archive (at most {MAX_FILES})")
        declared = 0
        for info in members:
            _check_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveRefused(f"link in the archive: {info.filename!r}")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ArchiveRefused(f"special file in the archive: {info.filename!r}")
            declared += info.file_size
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1 << 20:
                raise ArchiveRefused(f"{info.filename!r} inflates {info.file_size // info.compress_size}x: "
                                     "refused as a zip bomb")
        _check_declared_size(declared)
        budget = [MAX_BYTES]
        for info in members:
            target = dest / _check_name(info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            try:
                with zf.open(info) as source:
                    _write_capped(source, target, budget)
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as err:
                raise ArchiveRefused(f"{info.filename!r} cannot be read from the archive ({err})") from None


def _check_declared_size(declared: int) -> None:
    """Refuse before writing anything when the headers already add up to too much."""
    if declared > MAX_BYTES:
        raise ArchiveRefused(f"archive inflates to {declared >> 20} MiB (at most {MAX_BYTES >> 20} MiB)")


def extract_tar(archive: Path, dest: Path) -> None:
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise ArchiveRefused(f"{archive.name} is not a readable tar archive ({err})") from None
    with tf:
        try:
            members = []
            for member in tf:  # reading the headers only
                members.append(member)
                if len(members) > MAX_FILES:
                    raise ArchiveRefused(f"more than {MAX_FILES} files in the archive")
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ArchiveRefused(f"{archive.name} is a damaged tar archive ({err})") from None
        declared = 0
        for member in members:
            _check_name(member.name)
            if member.issym() or member.islnk():
                raise ArchiveRefused(f"link in the archive: {member.name!r}")
            if not (member.isfile() or member.isdir()):
                raise ArchiveRefused(f"special file in the archive: {member.name!r}")
            declared += member.size
        _check_declared_size(declared)
        budget = [MAX_BYTES]
        for member in members:
            target = dest / _check_name(member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            source = tf.extractfile(member)
            if source is None:
                raise ArchiveRefused(f"{member.name!r} cannot be read from the archive")
            with source:
                _write_capped(source, target, budget)


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def unpack(path: Path, dest: Path) -> Path:
    """Unpack (or copy) a submission into DEST; return the folder that holds its katas/."""
    path = Path(path)
    dest.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        for item in path.rglob("*"):
            if item.is_symlink():
                continue  # never follow a candidate's link out of their folder
            rel = item.relative_to(path)
            if item.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
            elif item.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item, dest / rel)
    elif path.name.lower().endswith(".zip"):
        extract_zip(path, dest)
    elif is_archive(path):
        extract_tar(path, dest)
    elif not path.exists():
        raise ArchiveRefused(f"{path} does not exist")
    else:
        raise ArchiveRefused(f"{path.name}: expected a .zip, a .tar.gz or a folder")
    return project_folder(dest)


def project_folder(dest: Path) -> Path:
    """DEST, or its one top-level folder when the take-home was packed inside one."""
    if (dest / "katas").is_dir() or (dest / "manifest.json").is_file():
        return dest
    children = [c for c in dest.iterdir() if not c.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and children[0].is_dir():
        return project_folder(children[0]) if children[0] != dest else dest
    return dest
