"""The package surface: the type stubs name exactly what the module exports, and every public
object has a docstring (editors show both)."""

import ast
import pathlib

import vecaccel

STUBS = pathlib.Path(vecaccel.__file__).with_name("__init__.pyi")


def stub_names():
    tree = ast.parse(STUBS.read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            members = {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
            names[node.name] = members
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = set()
    return {n: m for n, m in names.items() if not n.startswith("_") or n == "__version__"}


def test_stubs_declare_exactly_the_public_api():
    assert set(stub_names()) == set(vecaccel.__all__)


def test_stubbed_members_exist_and_public_members_are_stubbed():
    for name, members in stub_names().items():
        obj = getattr(vecaccel, name)
        if isinstance(obj, type) and name != "Error":
            public = {m for m in vars(obj) if not m.startswith("_")} | ({"__init__", "__len__"} & set(vars(obj)))
            assert members == public, name


def test_public_objects_have_docstrings():
    for name in vecaccel.__all__:
        obj = getattr(vecaccel, name)
        if callable(obj):
            assert obj.__doc__, name
    for cls in (vecaccel.FlatIndex, vecaccel.Context):
        for member, value in vars(cls).items():
            if not member.startswith("_"):
                assert value.__doc__, f"{cls.__name__}.{member}"
