"""The interviewer's record of a take-home: what `grade` grades, kept on the interviewer's side.

`torchkata package` writes one record per take-home to the record store (by default
``<project>/.torchkata/takehomes/<id>.json``) and ships only its id in the take-home's
manifest.json. `torchkata grade` trusts nothing the candidate returns: the katas graded, the
hidden suite's digest, the scoring policy and the hint level all come from the record; the
returned manifest is only a hint to which record to use, and where it differs from the record
the difference is reported, never obeyed.
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCORING_POLICIES = ("per-property", "all-or-nothing")
HINT_LEVELS = ("none", "nudge", "all")
# What a take-home id looks like: "th-" and 24 hex digits (96 random bits, not guessable). A
# returned id is candidate data: only this shape is ever turned into a file name.
_ID = re.compile(r"th-[0-9a-f]{24}")


class RecordError(Exception):
    """No usable record for a submission (one line, said to the interviewer)."""


def new_id() -> str:
    return "th-" + secrets.token_hex(12)


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def default_store(project: Path) -> Path:
    """Where `package` keeps its records in PROJECT (never shipped: .torchkata/ is the interviewer's)."""
    return Path(project) / ".torchkata" / "takehomes"


@dataclass
class Record:
    id: str
    title: str
    katas: list[str]
    hidden_suite_sha256: str
    scoring: str = "per-property"
    hints: str = "nudge"
    minutes: int = 0
    created_at: str = ""
    torchkata_version: str = ""
    # The digests of every shipped file (stubs included): what came back unchanged, what changed.
    files: dict[str, str] = field(default_factory=dict)
    # What the packager did that the interviewer should know (e.g. a solved working copy not shipped).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        record = cls(**known)
        if not is_record_id(record.id):
            raise RecordError(f"record has a malformed id {record.id!r}")
        if record.scoring not in SCORING_POLICIES:
            raise RecordError(f"record {record.id} has an unknown scoring policy {record.scoring!r}")
        if record.hints not in HINT_LEVELS:
            raise RecordError(f"record {record.id} has an unknown hint level {record.hints!r}")
        if not isinstance(record.katas, list) or not all(isinstance(k, str) for k in record.katas):
            raise RecordError(f"record {record.id} has no list of katas")
        return record


def record_path(store: Path, record_id: str) -> Path:
    if not is_record_id(record_id):
        raise RecordError(f"not a take-home id: {record_id!r}")
    return Path(store) / f"{record_id}.json"


def save_record(store: Path, record: Record) -> Path:
    path = record_path(store, record.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_dict(), indent=1) + "\n")
    return path


def load_record(store: Path, record_id: str) -> Record:
    path = record_path(store, record_id)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"no record of take-home {record_id} in {store}") from None
    except (OSError, ValueError) as err:
        raise RecordError(f"the record {path} is unreadable ({err})") from None
    if not isinstance(data, dict) or data.get("id") != record_id:
        raise RecordError(f"the record {path} does not describe take-home {record_id}")
    return Record.from_dict(data)


def find_record(store: Path, returned_manifest: dict) -> Record:
    """The record the returned manifest points to. The manifest is only a hint to the id: a
    missing or malformed id, or one the store does not hold, is an error, never a fallback
    to the manifest's own claims."""
    hint = returned_manifest.get("takehome_id") if isinstance(returned_manifest, dict) else None
    if hint is None:
        raise RecordError("the submission names no take-home id (manifest.json missing or edited), so there is "
                          f"no record to grade it by in {store}; pass --records DIR for another record store, "
                          "or --katas ID,... to grade named katas")
    if not is_record_id(hint):
        raise RecordError(f"the submission's manifest names a malformed take-home id ({str(hint)[:40]!r}); "
                          "pass --katas ID,... to grade named katas")
    return load_record(store, hint)


def differences(record: Record, returned: dict) -> list[str]:
    """Where the candidate's returned manifest differs from the record: reported, never obeyed."""
    if not isinstance(returned, dict):
        return ["the returned manifest.json is not an object"]
    out = []
    for key in ("katas", "hidden_suite_sha256", "scoring", "hints", "title", "minutes"):
        if key in returned and returned[key] != getattr(record, key):
            out.append(f"{key}: the returned manifest says {json.dumps(returned[key])[:200]}, "
                       f"the record says {json.dumps(getattr(record, key))[:200]}")
        elif key not in returned and key in ("katas", "hidden_suite_sha256"):
            out.append(f"{key}: missing from the returned manifest")
    return out
