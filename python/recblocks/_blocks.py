"""Block constructors for every registered block type, made from the types'
declared options (the same table that reads and writes model.json and that
`recblocks blocks` prints): positional arguments fill the required options
in order, keyword arguments any option; defaults are the C++ defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recblocks import _recblocks
from recblocks._recblocks import Block, Schema, Tag


def _doc(type_name: str, options: list[dict], usage: str = "") -> str:
    """The docstring of a block constructor: `usage` (the calling convention of a
    constructor of its own), else the generic one, then the options' table."""
    required = [o["key"] for o in options if o["required"] and "." not in o["key"]]
    keywords = ["**options"] if len(required) < len(options) else []
    own_usage = bool(usage)
    if not usage:
        usage = (f"{type_name}({', '.join(required + keywords)}): a recblocks.Block of "
                 f"type {type_name}. Positional arguments fill the required options in "
                 "order, keywords any option; a nested option (<option>.<key>) is given as a "
                 "dict. Raises TypeError for extra positional arguments, ValueError naming an "
                 "unknown or missing option or a wrong value.")
    # A constructor of its own takes other arguments than the config's keys (model.json).
    lines = [usage, "", "Config keys (model.json):" if own_usage else "Options:"]
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
        """Makes a Block of this type (see the class's docstring for the arguments)."""
        return cls._make(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        """Whether `instance` is a Block of this registered type."""
        return isinstance(instance, Block) and instance.type == cls.type_name


def _simple(type_name: str, options: list[dict]) -> type:
    def make(*args: Any, **kwargs: Any) -> Block:
        return _recblocks.make_block(type_name, _config(type_name, options, args, kwargs))

    return _BlockType(type_name, (), {"type_name": type_name, "_make": staticmethod(make),
                                      "__doc__": _doc(type_name, options)})


def _sequential(*blocks: Block | Sequence[Block]) -> Block:
    """SequentialBlock(a, b, c) or SequentialBlock([a, b, c]): a -> b -> c, each block
    reading the previous one's output (children named "0", "1", ..., shared, not copied)."""
    if len(blocks) == 1 and isinstance(blocks[0], (list, tuple)):
        blocks = tuple(blocks[0])
    return _recblocks.make_block("SequentialBlock", {},
                                 [(str(i), b) for i, b in enumerate(blocks)])


def _parallel(*branches: Block | Sequence[Block] | Mapping[str, Block],
              aggregation: str = "") -> Block:
    """ParallelBlock({"a": block_a, "b": block_b}), ParallelBlock(block_a, block_b) or
    ParallelBlock([block_a, block_b]) (named "0", "1", ...): every branch reads the same input;
    the output is the dict of the branches' outputs (a dict output merged in), or one tensor
    with `aggregation` ("concat", "stack", "element-wise-sum", "cosine"). Raises ValueError for
    an unknown aggregation."""
    if len(branches) == 1 and isinstance(branches[0], dict):
        children = [(str(k), v) for k, v in branches[0].items()]
    else:
        if len(branches) == 1 and isinstance(branches[0], (list, tuple)):
            branches = tuple(branches[0])
        children = [(str(i), b) for i, b in enumerate(branches)]
    return _recblocks.make_block("ParallelBlock", {"aggregation": aggregation}, children)


def _continuous_from_schema(schema: Schema, tags: Tag | str = "continuous") -> Block:
    """ContinuousFeatures over the columns of `schema` having `tags` (a Tag or its name;
    TARGET columns left out): {name: float32 [B, 1]}, or [B, n] for a fixed-length list.
    Raises ValueError naming the tag when no column has it."""
    return _recblocks.continuous_features(schema, tags)


def _embedding_from_schema(schema: Schema, tags: Tag | str = "categorical",
                           **options: Any) -> Block:
    """EmbeddingFeatures over the columns of `schema` having `tags` (TARGET columns left out):
    {name: [B, dim]}, list columns pooled by the combiner. `options`: EmbeddingOptions keys (dim
    64, dims, use_schema_dims, infer_dims, infer_multiplier, ensure_multiple_of_8, initializer,
    initializers, l2_reg, combiner "mean", table_prefix). Raises ValueError naming a column
    without an integer domain, an unknown option, or the tag when no column has it."""
    return _recblocks.embedding_features(schema, options, tags)


def _sequence_embedding_from_schema(schema: Schema, max_sequence_length: int = 0,
                                    tags: Tag | str = "categorical", mask_zero: bool = True,
                                    **options: Any) -> Block:
    """SequenceEmbeddingFeatures over the categorical list columns of `schema` having `tags`:
    {name: [B, L, dim], name__mask: float32 [B, L] (with mask_zero)}, each row padded with id 0
    or truncated to L = max_sequence_length (0: the column's value_count.max). `options`:
    EmbeddingOptions keys, as for EmbeddingFeatures.from_schema. Raises ValueError naming an
    unbounded column when max_sequence_length is 0."""
    return _recblocks.sequence_embedding_features(schema, options, max_sequence_length, tags,
                                                  mask_zero)


def _filter(selection: str | list[str] | Tag | Schema, exclude: bool = False) -> Block:
    """Filter("name"), Filter(["a", "b"]), Filter(Tags.CONTINUOUS) or Filter(schema): on the
    raw inputs the selected columns, on a dict the selected entries; `exclude` keeps everything
    except the selection. A name missing from a dict raises ValueError listing the keys."""
    return _recblocks.filter(selection, exclude)


# The constructors whose calling convention is their own: their docstring and signature
# replace the generic ones (the stubs read them too).
_OWN_CONSTRUCTORS = {"SequentialBlock": _sequential, "ParallelBlock": _parallel,
                     "Filter": _filter}
_FROM_SCHEMA = {"ContinuousFeatures": _continuous_from_schema,
                "EmbeddingFeatures": _embedding_from_schema,
                "SequenceEmbeddingFeatures": _sequence_embedding_from_schema}


def block_types() -> dict[str, type]:
    """Every registered block type's constructor, by type name: a class whose call returns
    a recblocks.Block of that type (isinstance(block, MLPBlock) checks the type), made from
    the options of block_type_docs(); ContinuousFeatures, EmbeddingFeatures and
    SequenceEmbeddingFeatures also have from_schema."""
    docs = _recblocks.block_type_docs()
    out = {}
    for type_name, options in docs.items():
        cls = _simple(type_name, options)
        own = _OWN_CONSTRUCTORS.get(type_name)
        if own is not None:
            cls._make = staticmethod(own)
            # The docstring's lines without their indentation (inspect.cleandoc, without
            # importing inspect at `import recblocks`).
            usage = "\n".join(line.strip() for line in own.__doc__.splitlines())
            cls.__doc__ = _doc(type_name, options, usage)
        if type_name in _FROM_SCHEMA:
            cls.from_schema = staticmethod(_FROM_SCHEMA[type_name])
        out[type_name] = cls
    return out
