"""The kata catalog (the contract), parsed without importing torch."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("catalog.toml")


@dataclass(frozen=True)
class Symbol:
    """One public name of a kata module, with its parameters when it is a function."""

    name: str
    kind: str  # "function" | "class"
    params: tuple[str, ...] | None  # parameter names in order; None for classes
    text: str  # the catalog line
    init_params: tuple[str, ...] | None = None  # a class's __init__ parameters after self, when the line gives them


@dataclass(frozen=True)
class KataSpec:
    id: str
    module: str
    title: str
    difficulty: int
    minutes: int
    forbidden: tuple[str, ...]
    symbols: tuple[Symbol, ...]
    mistakes: tuple[str, ...]
    seeds: tuple[str, ...] = field(default=())

    @property
    def number(self) -> int:
        return int(self.id[:2])

    def symbol(self, name: str) -> Symbol | None:
        return next((s for s in self.symbols if s.name == name), None)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def _params_from(line: str, start: int) -> tuple[str, ...]:
    """The parameter names of the list whose opening parenthesis is at START."""
    depth = 0
    for i in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[i], 0)
        if depth == 0:
            break
    names = []
    for part in _split_top_level(line[start + 1 : i]):
        name = re.match(r"\s*\**([A-Za-z_]\w*)", part)
        if name:
            names.append(name.group(1))
    return tuple(names)


def parse_symbol(line: str) -> Symbol:
    m = re.match(r"\s*class\s+([A-Za-z_]\w*)", line)
    if m:
        # "class CustomLinear(nn.Module)  # __init__(in_features: int, ...); ..." gives the constructor
        init = re.search(r"#\s*__init__\(", line)
        return Symbol(m.group(1), "class", None, line, _params_from(line, init.end() - 1) if init else None)
    m = re.match(r"\s*([A-Za-z_]\w*)\s*\(", line)
    if not m:
        raise ValueError(f"cannot parse catalog symbol: {line!r}")
    return Symbol(m.group(1), "function", _params_from(line, m.end() - 1), line)


@cache
def load_catalog(path: Path = CATALOG_PATH) -> dict[str, KataSpec]:
    data = tomllib.loads(path.read_text())
    katas = {}
    for entry in data["kata"]:
        katas[entry["id"]] = KataSpec(
            id=entry["id"],
            module=entry["module"],
            title=entry["title"],
            difficulty=int(entry["difficulty"]),
            minutes=int(entry["minutes"]),
            forbidden=tuple(entry.get("forbidden", ())),
            symbols=tuple(parse_symbol(s) for s in entry["symbols"]),
            mistakes=tuple(entry.get("mistakes", ())),
            seeds=tuple(entry.get("seeds", ())),
        )
    return katas


def get_kata(kata_id: str) -> KataSpec:
    catalog = load_catalog()
    if kata_id in catalog:
        return catalog[kata_id]
    # Accept a bare number or a unique prefix: "3", "03", "03_auto".
    if kata_id.isdigit():
        matches = [k for k in catalog if k[:2] == kata_id.zfill(2)]
    else:
        matches = [k for k in catalog if k.startswith(kata_id)]
    if len(matches) == 1:
        return catalog[matches[0]]
    raise KeyError(f"unknown kata {kata_id!r}; `torchkata list` shows the ids")
