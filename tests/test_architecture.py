"""The architecture's rules, checked on the source tree so that they cannot erode.

- Nothing outside ``src/harmonium/units/`` asks which unit type it holds: no
  ``isinstance``/``issubclass`` against a unit class, no ``type(x) is/in/==``
  comparison, no dict keyed by unit classes. A unit type's knowledge is its methods.
- No module over 400 lines; no function over 80 lines of code (its docstring aside).
- ``harmonium.io`` holds no table of model classes: models register themselves.
"""

import ast
import pathlib

import pytest

import harmonium.units
from harmonium.units.base import _REGISTRY

SRC = pathlib.Path(harmonium.units.__file__).parents[1]
UNIT_CLASSES = set(_REGISTRY) | {"_TwoState"}  # "Units" itself: "is it a layer at all"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80


def _sources(outside_units=False):
    for path in sorted(SRC.rglob("*.py")):
        if outside_units and path.parent.name == "units":
            continue
        yield path, ast.parse(path.read_text(), filename=str(path))


def _names(node) -> set[str]:
    """Class names mentioned by an expression (a name, an attribute or a tuple of them)."""
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _is_type_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
        node.func.id == "type")


def _unit_type_checks(tree) -> list[int]:
    """Line numbers of type checks against unit classes in one module."""
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2
                and _names(node.args[1]) & UNIT_CLASSES):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(
                _is_type_call(x) for x in [node.left, *node.comparators]):
            others = [x for x in [node.left, *node.comparators] if not _is_type_call(x)]
            if any(_names(x) & UNIT_CLASSES for x in others) or all(
                    _is_type_call(x) for x in [node.left, *node.comparators]):
                lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(
                k is not None and _names(k) & UNIT_CLASSES for k in node.keys):
            lines.append(node.lineno)
    return lines


def test_the_detector_finds_each_kind_of_type_check():
    code = ("isinstance(layer, (Bernoulli, Spin))\n"
            "type(layer) is Categorical\n"
            "type(a) is not type(b)\n"
            "kinds = {Bernoulli: 'binary'}\n"
            "isinstance(layer, Units)\n")  # the last one is allowed
    assert _unit_type_checks(ast.parse(code)) == [1, 2, 3, 4]


def test_no_unit_type_switch_outside_units():
    found = {str(path.relative_to(SRC)): lines for path, tree in _sources(outside_units=True)
             if (lines := _unit_type_checks(tree))}
    assert found == {}, f"type checks on unit classes outside units/: {found}"


def _function_code_lines(node) -> int:
    """Lines of a function without its docstring."""
    total = node.end_lineno - node.lineno + 1
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and (
            isinstance(body[0].value.value, str)):
        total -= body[0].end_lineno - body[0].lineno + 1
    return total


def test_modules_and_functions_stay_small():
    too_long = []
    for path, tree in _sources():
        n_lines = len(path.read_text().splitlines())
        if n_lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(SRC)}: {n_lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    _function_code_lines(node) > MAX_FUNCTION_LINES):
                too_long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: "
                                f"{_function_code_lines(node)} lines of code")
    assert too_long == []


@pytest.mark.parametrize("name", ["RBM", "DBN", "HopfieldNetwork", "ModernHopfield",
                                  "DenseAssociativeMemory", "BoltzmannMachine",
                                  "RBMRecommender"])
def test_models_register_themselves_for_loading(name):
    import harmonium
    from harmonium.io import _SAVABLE

    cls = getattr(harmonium, name)
    assert _SAVABLE[name] is cls
    io_source = (SRC / "io.py").read_text()
    assert "harmonium.models" not in io_source  # no table of model modules in io
