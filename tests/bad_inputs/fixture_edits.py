"""File contents for corpus cases that start from a copy of a fixture
({good}, {model}) and change one thing in it: a column file, schema.json,
model.json, the weights.

A Case's `files` value may be a callable that makes the file at a path;
these helpers build such callables:

    files={"d": copy_of("good", "valid", replace("I3.npy", npy(...)))}
"""

from __future__ import annotations

import json
import pathlib
import shutil
import struct
from typing import Any, Callable, Optional, Union

import numpy as np

Edit = Callable[[pathlib.Path], None]


def fixture(path: pathlib.Path, name: str) -> pathlib.Path:
    """The fixture `name` of the run that `path` (a case's file) belongs to:
    corpus.py keeps fixtures/ beside the cases' scratch directories."""
    for parent in path.parents:
        if (parent / "fixtures" / name).exists():
            return parent / "fixtures" / name
    raise FileNotFoundError(f"no fixture {name} above {path}")


def copy_of(name: str, sub: str = "", *edits: Edit) -> Callable[[pathlib.Path], None]:
    """A copy of fixture `name` (its folder `sub`), then each edit applied to it."""
    def make(path: pathlib.Path) -> None:
        shutil.copytree(fixture(path, name) / sub, path)
        for edit in edits:
            edit(path)
    return make


def replace(rel: str, content: Union[bytes, str, Edit, None]) -> Edit:
    """Replaces (None: removes) the file `rel` of the copy."""
    def edit(root: pathlib.Path) -> None:
        target = root / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if content is None:
            return
        if callable(content):
            content(target)
        elif isinstance(content, str):
            target.write_text(content)
        else:
            target.write_bytes(content)
    return edit


def edit_json(rel: str, change: Callable[[Any], Any]) -> Edit:
    """Loads `rel`, lets `change` edit it in place (what it returns is
    ignored: `lambda m: m.pop("seed")` removes the key) and writes it back."""
    def edit(root: pathlib.Path) -> None:
        doc = json.loads((root / rel).read_text())
        change(doc)
        (root / rel).write_text(json.dumps(doc, indent=2))
    return edit


def edit_text(rel: str, change: Callable[[str], str]) -> Edit:
    def edit(root: pathlib.Path) -> None:
        (root / rel).write_text(change((root / rel).read_text()))
    return edit


def edit_array(rel: str, change: Callable[[np.ndarray], Optional[np.ndarray]]) -> Edit:
    """Loads the .npy `rel`, lets `change` edit a writable copy (or return a
    replacement array) and saves it back with numpy."""
    def edit(root: pathlib.Path) -> None:
        a = np.load(root / rel).copy()
        out = change(a)
        np.save(root / rel, a if out is None else out)
    return edit


def npy(header: str, data: bytes = b"", major: int = 1, pad: bool = True,
        header_length: Optional[int] = None) -> bytes:
    """A .npy file: magic, version `major`.0, the header text (padded as
    numpy pads it unless `pad` is false), then `data`. `header_length`
    overrides the length field."""
    len_bytes = 2 if major == 1 else 4
    text = header.encode("latin-1")
    if pad:
        while (6 + 2 + len_bytes + len(text) + 1) % 64:
            text += b" "
    text += b"\n"
    length = len(text) if header_length is None else header_length
    return (b"\x93NUMPY" + bytes([major, 0]) + length.to_bytes(len_bytes, "little") + text +
            data)


def npy_header(descr: str = "<f4", shape: str = "(600,)", order: str = "False") -> str:
    return f"{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}"


def safetensors(header: Union[dict, str, bytes], data: bytes = b"",
                length: Optional[int] = None) -> bytes:
    """A safetensors file: the 8-byte header length, the header (a dict is
    dumped as JSON), the data section."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    if isinstance(header, str):
        header = header.encode("utf-8")
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def read_safetensors(path: pathlib.Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, tensors) of a safetensors file (F32, I32, I64 only)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    types = {"F32": np.float32, "I32": np.int32, "I64": np.int64}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=types[entry["dtype"]]).reshape(
            entry["shape"]).copy()
    return metadata, tensors


def write_safetensors(path: pathlib.Path, metadata: dict, tensors: dict[str, np.ndarray]) -> None:
    names = {np.float32: "F32", np.int32: "I32", np.int64: "I64"}
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    data = b""
    for name, a in sorted(tensors.items()):
        a = np.ascontiguousarray(a)
        header[name] = {"dtype": names[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [len(data), len(data) + a.nbytes]}
        data += a.tobytes()
    path.write_bytes(safetensors(header, data))


def edit_weights(change: Callable[[dict[str, np.ndarray]], None],
                 rel: str = "weights.safetensors") -> Edit:
    """Reads the model copy's weights, lets `change` edit the dict of
    tensors, writes a valid safetensors file of the result."""
    def edit(root: pathlib.Path) -> None:
        metadata, tensors = read_safetensors(root / rel)
        change(tensors)
        write_safetensors(root / rel, metadata, tensors)
    return edit


def blocks_of(architecture: dict, type_name: str) -> list[dict]:
    """Every block of `type_name` in an architecture's JSON, depth first."""
    found = []

    def visit(block: dict) -> None:
        if block.get("type") == type_name:
            found.append(block)
        for child in block.get("children", []):
            visit(child["block"])

    visit(architecture)
    return found
