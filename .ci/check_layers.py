#!/usr/bin/env python3
"""Fails when the crate's modules import each other in a circle or against the layering.

Reads every `use` statement and inline `crate::`/`super::`/`self::` path in `src/`,
resolves each to the module file that defines the name (following `pub use`
re-exports), and checks two things:

1. Between the crate's top-level modules, imports point only down the layers in LAYERS
   (the crate docs' architecture table): no cycle, and no import of a higher layer.
2. Inside a folder module, its files (other than `mod.rs`, which owns what its files
   share, and test modules) import each other without a cycle.

Usage: python3 .ci/check_layers.py [SRC_DIR]   (exit status 1 on a violation)
"""
import re
import sys
from pathlib import Path

# Lowest first. A module may use modules of its own layer's predecessors only; `private`
# (the seal) may be used by anyone. A top-level module's files and submodules
# (`layout::ranges`, `chunked::reduce::moments`) are in its layer.
LAYERS = [
    ["options"],
    ["error"],
    ["layout", "map"],
    ["bytes", "fs"],
    ["guard"],
    ["raw", "npy"],
    ["npz", "safetensors"],
    ["chunked"],
]
ANYONE = {"private"}


def module_of(path: Path, src: Path) -> tuple:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts == ["lib"]:
        return ()
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def strip(code: str) -> str:
    """Removes comments and string literals, which may mention paths they do not use."""
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r'r#*"(?:.|\n)*?"#*', '""', code)
    code = re.sub(r'"(?:\\.|[^"\\])*"', '""', code)
    code = re.sub(r"'(?:\\.|[^'\\])'", "' '", code)
    return re.sub(r"//[^\n]*", " ", code)


def expand(tree: str) -> list:
    """`a::{b, c::{d, e as f}}` -> [("a::b", "b"), ("a::c::d", "d"), ("a::c::e", "f")]."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix: str, text: str):
        depth, start, items = 0, 0, []
        for i, ch in enumerate(text):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(text[start:i])
                start = i + 1
        items.append(text[start:])
        for item in filter(None, items):
            if "{" in item:
                head, inner = item.split("{", 1)
                walk(prefix + head, inner[:-1])
            else:
                path, _, alias = item.partition("as")
                path = prefix + path if "as" in item else prefix + item
                name = alias if "as" in item else path.split("::")[-1]
                out.append((path, name))

    walk("", tree)
    return out


def absolute(path: str, here: tuple, modules: set):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    base = list(here)
    if segs[0] == "self":
        return base + segs[1:]
    if segs[0] == "super":
        while segs and segs[0] == "super":
            base.pop()
            segs.pop(0)
        return base + segs
    if tuple(base + segs[:1]) in modules:  # a child module named without `self::`
        return base + segs
    return None  # an external crate or std


def main() -> int:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    files = {module_of(p, src): p for p in sorted(src.rglob("*.rs"))}
    modules = set(files)
    code = {m: strip(p.read_text()) for m, p in files.items()}

    use_re = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
    reexports = {m: {} for m in modules}  # module -> name -> absolute path
    uses = {m: [] for m in modules}
    for m, text in code.items():
        for public, tree in use_re.findall(text):
            for path, name in expand(tree):
                target = absolute(path, m, modules)
                if target is None:
                    continue
                uses[m].append(target)
                if public:
                    reexports[m][name] = target
        for path in re.findall(r"\b(?:crate|super|self)(?:::\w+)+", use_re.sub("", text)):
            target = absolute(path, m, modules)
            if target is not None:
                uses[m].append(target)

    def resolve(segs: list):
        for _ in range(20):
            prefix = max(
                (tuple(segs[:k]) for k in range(len(segs) + 1) if tuple(segs[:k]) in modules),
                key=len,
            )
            rest = segs[len(prefix):]
            if rest and rest[0] in reexports[prefix] and reexports[prefix][rest[0]] != segs:
                segs = reexports[prefix][rest[0]] + rest[1:]
                continue
            return prefix
        return tuple(segs)

    edges = set()
    for m, targets in uses.items():
        if "tests" in m:
            continue
        for target in targets:
            to = resolve(target)
            if to != m and "tests" not in to:
                edges.add((m, to))

    errors = []
    layer_of = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    top_edges = {(a[0], b[0]) for a, b in edges if a and b and a[0] != b[0]}
    for a, b in sorted(top_edges):
        if b in ANYONE:
            continue
        if a not in layer_of or b not in layer_of:
            errors.append(f"{a} -> {b}: a module missing from LAYERS in {sys.argv[0]}")
        elif layer_of[b] >= layer_of[a]:
            errors.append(f"{a} -> {b}: imports a module of the same or a higher layer")

    # Inside each folder module: the files other than mod.rs, without a cycle.
    inner = {}
    for a, b in edges:
        if len(a) >= 2 and len(b) >= 2 and a[:-1] == b[:-1] and a != b:
            inner.setdefault(a, set()).add(b)

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in inner.get(node, ()):
                if nxt == start:
                    return trail + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
        return None

    reported = set()
    for node in sorted(inner):
        loop = cycle_from(node)
        if loop and frozenset(loop) not in reported:
            reported.add(frozenset(loop))
            errors.append("cycle: " + " -> ".join("::".join(n) for n in loop))

    for error in errors:
        print(f"check_layers: {error}", file=sys.stderr)
    if not errors:
        print(f"check_layers: {len(modules)} modules, {len(top_edges)} arrows between "
              "top-level modules, all downward; no cycle inside folder modules")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
