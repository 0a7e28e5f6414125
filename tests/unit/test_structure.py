"""The package's structure holds: no import cycle (imports inside functions counted), an import
inside a function says on its line why it is there, and few modules at the top level (the folders
show the architecture). Read from the source with ``devtools.structure``; nothing is imported."""

from __future__ import annotations

from devtools import structure
from tests.support.prerequisites import REPO_ROOT

TOP_LEVEL_MOST = 10  # what users and the wiring meet; everything else lives in a folder of its concern
METHODS_MOST = 25  # a class with more does more than one job
LINES_MOST = 80  # a function longer than a screen and a half does more than one thing


def read() -> dict[str, structure.Module]:
    known = structure.modules(REPO_ROOT)
    structure.read_imports(known)
    return known


def test_no_import_cycle_counting_imports_inside_functions():
    assert structure.cycles(read()) == []


def test_an_import_inside_a_function_says_why_on_its_line():
    unexplained = [
        f"{module.name}:{line}  {text}"
        for module in read().values()
        for line, text in module.inner_imports
        if "#" not in text
    ]
    assert unexplained == []


def test_few_modules_at_the_top_level():
    top = [m.name for m in read().values() if m.name.count(".") == 1 and m.path.name != "__init__.py"]
    assert len(top) <= TOP_LEVEL_MOST, top


def test_no_class_over_the_method_limit():
    classes, _ = structure.largest(read(), count=5)
    assert [name for methods, name in classes if methods > METHODS_MOST] == []


def test_no_function_over_the_line_limit():
    _, functions = structure.largest(read(), count=5)
    assert [name for lines, name in functions if lines > LINES_MOST] == []


def test_the_reader_sees_a_cycle_and_an_unexplained_import(tmp_path):
    """The checks above can fail: a two-module cycle through an import inside a function is found."""
    package = tmp_path / "src" / structure.PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import B\nA = 1\n")
    (package / "b.py").write_text("def f():\n    from .a import A\n    return A\nB = 2\n")
    known = structure.modules(tmp_path)
    structure.read_imports(known)
    assert structure.cycles(known) == [[f"{structure.PACKAGE}.a", f"{structure.PACKAGE}.b"]]
    assert known[f"{structure.PACKAGE}.b"].inner_imports == [(2, "from .a import A")]


def test_importing_a_module_imports_the_packages_above_it(tmp_path):
    """``from ..p.m import X`` runs ``p/__init__`` first: a cycle through a package's face is one."""
    package = tmp_path / "src" / structure.PACKAGE
    (package / "p").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "p" / "__init__.py").write_text("from .m import M\nfrom ..low import L\n")
    (package / "p" / "m.py").write_text("M = 1\n")
    (package / "low.py").write_text("from .p.m import M\nL = 2\n")
    known = structure.modules(tmp_path)
    structure.read_imports(known)
    assert structure.cycles(known) == [[f"{structure.PACKAGE}.low", f"{structure.PACKAGE}.p"]]
