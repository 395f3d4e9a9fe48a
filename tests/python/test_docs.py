"""The package documents itself: every public callable, class and property reachable from
recblocks, recblocks._recblocks, recblocks.merlin.models.tf and recblocks.compat.tensorflow
has a docstring, and the generated stub recblocks/__init__.pyi (python/tools/gen_package_stub.py)
declares every public name of the package and every registered block type with its options."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pathlib
import subprocess
import sys
import types

import pytest

import recblocks as rb

MODULES = ["recblocks", "recblocks._recblocks", "recblocks.merlin.models.tf",
           "recblocks.compat.tensorflow"]
# The dunder methods that carry documentation of their own: how to make and call an object.
DOCUMENTED_DUNDERS = ("__init__", "__call__")


def _ours(obj) -> bool:
    """Whether obj is defined by recblocks (not an import of typing, os, numpy, ...)."""
    module = getattr(obj, "__module__", None)
    if isinstance(obj, (staticmethod, classmethod, property)):
        return True
    return isinstance(module, str) and (module == "recblocks" or module.startswith("recblocks."))


def _docs(obj) -> list[str]:
    """The docstrings of obj: one per overload for a nanobind function (whose __doc__ always
    starts with its signature, so the signature's own text is looked at), else its __doc__."""
    if isinstance(obj, property) and hasattr(obj.fget, "__nb_signature__"):
        obj = obj.fget  # a nanobind property's __doc__ is its getter's signature when undocumented
    signatures = getattr(obj, "__nb_signature__", None)
    if signatures is not None:
        return [doc or "" for _, doc, *_ in signatures]
    return [obj.__doc__ or ""]


def _members(obj) -> list[tuple[str, object]]:
    """The public members of a module, a class or a namespace object, without descending into
    other modules."""
    try:
        entries = vars(obj)
    except TypeError:  # a nanobind instance (a Tag): nothing of its own
        return []
    out = []
    for name, value in entries.items():
        if name.startswith("_") and name not in DOCUMENTED_DUNDERS:
            continue
        if isinstance(value, types.ModuleType) or name == "annotations":
            continue
        out.append((name, value))
    return out


def _walk() -> list[tuple[str, object]]:
    """(dotted name, object) of every public callable, class and property reachable from
    MODULES, each object once."""
    seen: set[int] = set()
    found: list[tuple[str, object]] = []

    def visit(path: str, obj: object) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        target = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
        documented = isinstance(target, (type, property)) or callable(target)
        if documented and _ours(target):
            found.append((path, target))
        if isinstance(target, type) and _ours(target):
            for name, value in _members(target):
                visit(f"{path}.{name}", value)
        elif not documented and _ours(type(target)):  # a namespace (tf.keras.metrics)
            for name, value in _members(target):
                visit(f"{path}.{name}", value)

    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, value in _members(module):
            visit(f"{module_name}.{name}", value)
    return found


def test_the_walk_reaches_what_users_call():
    names = {path for path, _ in _walk()}
    for expected in ["recblocks.Model.fit", "recblocks.MLPBlock", "recblocks.Block.connect",
                     "recblocks.Block.built", "recblocks.Error", "recblocks.Dataset.head",
                     "recblocks.ContinuousFeatures.from_schema",
                     "recblocks.merlin.models.tf.EmbeddingOptions.__init__",
                     "recblocks.compat.tensorflow.metrics.AUC",
                     "recblocks.compat.tensorflow.optimizers.Adam",
                     "recblocks._recblocks.make_block"]:
        assert expected in names, f"{expected} not reached; reached {sorted(names)}"


def test_every_public_callable_class_and_property_has_a_docstring():
    missing = [path for path, obj in _walk() if not all(doc.strip() for doc in _docs(obj))]
    assert not missing, (f"{len(missing)} public names without a docstring (every overload "
                         "needs one):\n  " + "\n  ".join(missing))


# ---- the generated stubs ------------------------------------------------------------------

PACKAGE_DIR = pathlib.Path(rb.__file__).parent


def _stub(name: str) -> ast.Module:
    path = PACKAGE_DIR / name
    assert path.is_file(), f"{path} missing: the build writes it (target _recblocks_stub)"
    return ast.parse(path.read_text(), filename=str(path))


def _declared(tree: ast.Module) -> set[str]:
    """The names a stub declares at top level; an import re-exports only as `import X as X`."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname for a in node.names if a.asname == a.name)
    return names


def _public_names() -> set[str]:
    return {n for n, v in vars(rb).items()
            if not n.startswith("_") and not isinstance(v, types.ModuleType)} | {"__version__"}


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef:
    found = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f"the stub's class {cls.name} has no {name}"
    return found[0]


def test_the_package_stub_declares_every_public_name_and_no_other():
    declared = _declared(_stub("__init__.pyi"))
    public = _public_names()
    assert not public - declared, f"public names missing from __init__.pyi: {public - declared}"
    extra = {n for n in declared if not n.startswith("_")} - public
    assert not extra, f"__init__.pyi declares names the package does not have: {extra}"


def test_the_stub_declares_every_block_type_with_exactly_its_options():
    from recblocks import _blocks

    classes = _classes(_stub("__init__.pyi"))
    docs = rb.block_type_docs()
    assert docs and set(docs) <= set(classes)
    for type_name, options in docs.items():
        new = _method(classes[type_name], "__new__")
        assert isinstance(new.returns, ast.Name) and new.returns.id == "Block", type_name
        assert ast.get_docstring(classes[type_name]) == getattr(rb, type_name).__doc__.strip()
        own = _blocks._OWN_CONSTRUCTORS.get(type_name)
        positional = [a.arg for a in new.args.args[1:]]
        keyword_only = [a.arg for a in new.args.kwonlyargs]
        if own is not None:
            # SequentialBlock(*blocks), ParallelBlock(*branches, aggregation=),
            # Filter(selection, exclude=): the stub has the runtime constructor's parameters.
            runtime = inspect.signature(own).parameters
            stub = positional + keyword_only + [a.arg for a in (new.args.vararg,) if a]
            assert sorted(stub) == sorted(runtime), (type_name, stub, list(runtime))
            continue
        top = [o for o in options if "." not in o["key"]]
        assert positional == [o["key"] for o in top if o["required"]], type_name
        assert keyword_only == [o["key"] for o in top if not o["required"]], type_name
        assert new.args.vararg is None and new.args.kwarg is None, type_name
        for option, default in zip([o for o in top if not o["required"]], new.args.kw_defaults):
            value = ast.literal_eval(default)
            if value is not Ellipsis:
                assert value == json.loads(option["default"]), (type_name, option["key"])
            else:  # a list, an object, an initializer or no default: not a scalar literal
                assert option["default"] in ("(unset)", "(object)") or not isinstance(
                    json.loads(option["default"]), (bool, int, float, str)), (type_name, option)


def test_the_stub_types_follow_the_option_tables():
    new = _method(_classes(_stub("__init__.pyi"))["MLPBlock"], "__new__")
    annotations = {a.arg: ast.unparse(a.annotation)
                   for a in new.args.args[1:] + new.args.kwonlyargs}
    assert annotations["dimensions"] == "Sequence[int]"
    assert annotations["activation"] == "str"
    assert annotations["dropout"] == "float"
    assert annotations["use_bias"] == "bool"
    assert annotations["kernel_initializer"] == "str | Mapping[str, Any]"
    defaults = dict(zip([a.arg for a in new.args.kwonlyargs], new.args.kw_defaults))
    assert ast.literal_eval(defaults["activation"]) == "relu"
    assert ast.literal_eval(defaults["dropout"]) == 0.0


def test_from_schema_is_declared_where_the_package_has_it():
    from recblocks import _blocks

    classes = _classes(_stub("__init__.pyi"))
    for type_name, function in _blocks._FROM_SCHEMA.items():
        stub = _method(classes[type_name], "from_schema")
        params = [a.arg for a in stub.args.args + stub.args.kwonlyargs]
        params += [f"**{stub.args.kwarg.arg}"] if stub.args.kwarg else []
        runtime = [("**" if p.kind is p.VAR_KEYWORD else "") + p.name
                   for p in inspect.signature(function).parameters.values()]
        assert params == runtime, type_name


def test_the_module_stub_has_the_methods_the_package_adds():
    from recblocks import _recblocks

    tree = _stub("_recblocks.pyi")
    classes = _classes(tree)
    added = {(c, n) for c, cls in vars(_recblocks).items() if isinstance(cls, type)
             for n, v in vars(cls).items()
             if not n.startswith("_") and isinstance(getattr(v, "__func__", v),
                                                     types.FunctionType)}
    assert ("Model", "fit") in added and ("Dataset", "head") in added
    for class_name, name in added:
        _method(classes[class_name], name)
    # stubgen's module-level imports of those functions are gone: every name the stub
    # re-exports is the module's.
    reexported = _declared(tree) - {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    reexported -= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert not {n for n in reexported if not hasattr(_recblocks, n)}


GOOD_SNIPPET = """
import recblocks as rb

block = rb.MLPBlock([64], activation="relu")
reveal_type(block)
body = rb.ParallelBlock({"mlp": block, "other": rb.MLPBlock([32], dropout=0.1)})
model = body.connect(rb.BinaryClassificationTask("click"))
model.compile("adam")
history = model.fit(rb.Dataset.from_dict({"a": [1.0]}), epochs=2)
reveal_type(history)
deep = rb.ContinuousFeatures.from_schema(rb.Schema([]), rb.Tags.CONTINUOUS)
"""
BAD_SNIPPET = """
import recblocks as rb

block = rb.MLPBlock([64], activaton="relu")
"""


def _type_checker() -> list[str] | None:
    """The command of an importable type checker: mypy, else (based)pyright; None if neither."""
    from importlib.util import find_spec

    if find_spec("mypy") is not None:
        return [sys.executable, "-m", "mypy", "--follow-imports=silent",
                "--ignore-missing-imports", "--no-incremental", "--no-error-summary"]
    for name in ("basedpyright", "pyright"):
        if find_spec(name) is not None:
            return [sys.executable, "-m", name]
    return None


def test_a_type_checker_reads_the_block_constructors(tmp_path):
    command = _type_checker()
    if command is None:
        pytest.skip("neither mypy nor pyright is importable in this Python: the stubs are "
                    "checked by the tests above, not by a type checker")
    env = dict(os.environ, MYPYPATH=str(PACKAGE_DIR.parent),
               PYTHONPATH=os.pathsep.join([str(PACKAGE_DIR.parent)] + sys.path))
    # pyright's standard rules (basedpyright's own default also fails on warnings about
    # untyped code, which is not what this checks).
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(
        {"extraPaths": [str(PACKAGE_DIR.parent)], "typeCheckingMode": "standard",
         "failOnWarnings": False}))
    (tmp_path / "good.py").write_text(GOOD_SNIPPET)
    (tmp_path / "bad.py").write_text(BAD_SNIPPET)
    good = subprocess.run(command + ["good.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Block" in good.stdout and "History" in good.stdout, good.stdout
    bad = subprocess.run(command + ["bad.py"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert bad.returncode != 0 and "activaton" in bad.stdout, bad.stdout + bad.stderr
