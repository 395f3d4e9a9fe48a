"""Block constructors for every registered block type, made from the types'
declared options (the same table that reads and writes model.json and that
`recblocks blocks` prints): positional arguments fill the required options
in order, keyword arguments any option; defaults are the C++ defaults."""

from __future__ import annotations

from typing import Any

from recblocks import _recblocks
from recblocks._recblocks import Block


def _doc(type_name: str, options: list[dict]) -> str:
    lines = [f"A {type_name} block (returns a recblocks.Block).", "", "Options:"]
    for o in options:
        lines.append(f"    {o['key']} ({o['type']}, default {o['default']}): {o['doc']}")
    if not options:
        lines.append("    (none)")
    return "\n".join(lines)


def _config(type_name: str, options: list[dict], args: tuple, kwargs: dict) -> dict:
    required = [o["key"] for o in options if o["required"] and "." not in o["key"]]
    if len(args) > len(required):
        raise TypeError(f"{type_name}() takes {len(required)} positional argument(s) "
                        f"({', '.join(required) or 'none'}), {len(args)} given")
    config = dict(zip(required, args))
    for key in kwargs:
        if key in config:
            raise TypeError(f"{type_name}() got two values for '{key}'")
    config.update(kwargs)
    return config


class _BlockType(type):
    """The metaclass of the block constructors: `MLPBlock([64])` returns a Block."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Block:
        return cls._make(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Block) and instance.type == cls.type_name


def _simple(type_name: str, options: list[dict]) -> type:
    def make(*args: Any, **kwargs: Any) -> Block:
        return _recblocks.make_block(type_name, _config(type_name, options, args, kwargs))

    return _BlockType(type_name, (), {"type_name": type_name, "_make": staticmethod(make),
                                      "__doc__": _doc(type_name, options)})


def _sequential(*blocks: Block) -> Block:
    if len(blocks) == 1 and isinstance(blocks[0], (list, tuple)):
        blocks = tuple(blocks[0])
    return _recblocks.make_block("SequentialBlock", {},
                                 [(str(i), b) for i, b in enumerate(blocks)])


def _parallel(*branches: Any, aggregation: str = "") -> Block:
    if len(branches) == 1 and isinstance(branches[0], dict):
        children = [(str(k), v) for k, v in branches[0].items()]
    else:
        if len(branches) == 1 and isinstance(branches[0], (list, tuple)):
            branches = tuple(branches[0])
        children = [(str(i), b) for i, b in enumerate(branches)]
    return _recblocks.make_block("ParallelBlock", {"aggregation": aggregation}, children)


def _continuous_from_schema(schema, tags="continuous") -> Block:
    return _recblocks.continuous_features(schema, tags)


def _embedding_from_schema(schema, tags="categorical", **options) -> Block:
    return _recblocks.embedding_features(schema, options, tags)


def _sequence_embedding_from_schema(schema, max_sequence_length: int = 0, tags="categorical",
                                    mask_zero: bool = True, **options) -> Block:
    return _recblocks.sequence_embedding_features(schema, options, max_sequence_length, tags,
                                                  mask_zero)


def _filter(selection, exclude: bool = False) -> Block:
    return _recblocks.filter(selection, exclude)


def block_types() -> dict[str, type]:
    """Every registered block type's constructor, by type name."""
    docs = _recblocks.block_type_docs()
    out = {}
    for type_name, options in docs.items():
        cls = _simple(type_name, options)
        if type_name == "SequentialBlock":
            cls._make = staticmethod(_sequential)
        elif type_name == "ParallelBlock":
            cls._make = staticmethod(_parallel)
        elif type_name == "Filter":
            cls._make = staticmethod(_filter)
        elif type_name == "ContinuousFeatures":
            cls.from_schema = staticmethod(_continuous_from_schema)
        elif type_name == "EmbeddingFeatures":
            cls.from_schema = staticmethod(_embedding_from_schema)
        elif type_name == "SequenceEmbeddingFeatures":
            cls.from_schema = staticmethod(_sequence_embedding_from_schema)
        out[type_name] = cls
    return out
