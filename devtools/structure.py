"""The package's structure in numbers: import cycles (imports inside functions counted), imports
inside functions, modules at the top level and per package, the largest classes and functions.

    python -m devtools.structure              # this checkout's src/otel_label_studio
    python -m devtools.structure --root DIR   # another checkout (DIR/src/otel_label_studio)

Read from the source text with ``ast``: nothing of the package is imported or run.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "otel_label_studio"


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # internal modules, at any depth
    inner_imports: list[tuple[int, str]] = field(default_factory=list)  # (line, text) inside functions


def modules(root: Path) -> dict[str, Module]:
    found = {}
    base = root / "src"
    for path in sorted((base / PACKAGE).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return found


def _package_of(module: Module) -> str:
    return module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]


def _targets(node: ast.ImportFrom | ast.Import, module: Module, known: dict[str, Module]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        base = _package_of(module).split(".")
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if not source.startswith(PACKAGE):
        return set()
    found = set()
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        found.add(sub if sub in known else source)
    return {name for name in found if name in known}


def _with_packages(targets: set[str], module: Module, known: dict[str, Module]) -> set[str]:
    """Importing ``a.b.c`` runs ``a.b``'s ``__init__`` first: an edge to each package above a target,
    but for the packages the importing module is itself inside (already being imported)."""
    own = set()
    parts = module.name.split(".")
    for end in range(1, len(parts) + 1):
        own.add(".".join(parts[:end]))
    found = set(targets)
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts)):
            package = ".".join(parts[:end])
            if package in known and package not in own:
                found.add(package)
    return found


def read_imports(known: dict[str, Module]) -> None:
    for module in known.values():
        lines = module.path.read_text().splitlines()
        functions = [
            n for n in ast.walk(module.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        inner = {id(n) for f in functions for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(module.tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            under_type_checking = _under_type_checking(module.tree, node)
            targets = _with_packages(_targets(node, module, known), module, known) - {module.name}
            if not under_type_checking:
                module.imports |= targets
            if id(node) in inner:
                module.inner_imports.append((node.lineno, lines[node.lineno - 1].strip()))


def _under_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for branch in ast.walk(tree):
        if (
            isinstance(branch, ast.If)
            and "TYPE_CHECKING" in ast.unparse(branch.test)
            and any(child is node for stmt in branch.body for child in ast.walk(stmt))
        ):
            return True
    return False


def cycles(known: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(name: str) -> None:
        index[name] = low[name] = counter[0]
        counter[0] += 1
        stack.append(name)
        on_stack.add(name)
        for target in sorted(known[name].imports):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == name:
                    break
            # a package's __init__ importing its own modules is no cycle of concern alone
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for name in sorted(known):
        if name not in index:
            visit(name)
    return found


def largest(known: dict[str, Module], count: int) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    classes, functions = [], []
    for module in known.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                classes.append((len(methods), f"{module.name}.{node.name}"))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                functions.append((length, f"{module.name}:{node.name} (line {node.lineno})"))
    return sorted(classes, reverse=True)[:count], sorted(functions, reverse=True)[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="the checkout (default: here)")
    parser.add_argument("--top", type=int, default=8, help="how many of the largest classes and functions")
    args = parser.parse_args(argv)
    known = modules(args.root)
    read_imports(known)
    found = cycles(known)
    print(f"import cycles (imports inside functions counted): {len(found)}")
    for component in found:
        print(f"  {len(component)} modules: {', '.join(component)}")
    inner = [(m.name, line, text) for m in known.values() for line, text in m.inner_imports]
    print(f"imports inside functions: {len(inner)}")
    for name, line, text in inner:
        print(f"  {name}:{line}  {text}")
    per_package = Counter(_package_of(m) for m in known.values() if m.path.name != "__init__.py")
    print("modules per package:")
    for package, number in sorted(per_package.items()):
        print(f"  {package}: {number}")
    classes, functions = largest(known, args.top)
    print("largest classes (methods):")
    for number, name in classes:
        print(f"  {number:3d}  {name}")
    print("longest functions (lines):")
    for number, name in functions:
        print(f"  {number:3d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
