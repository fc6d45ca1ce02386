#!/usr/bin/env python3
"""The structure figures the project tracks, from the source alone.

Prints, for the production code of the engine, the host and the policies
(test modules and test files left out):

* module cycles: the strongly connected components of the graph whose nodes
  are modules (one per file) and whose edges are `crate::`, `super::` and
  `self::` paths from one module into another; a child that names its parent
  counts, since a parent's `mod.rs` should be the face of its children and
  not a type they all lean on;
* the longest functions, in lines from `fn` to the closing brace;
* the files over the 600-line cap.

Run: python3 scripts/structure.py [--top N] [--verbose] [--check]

With --check (CI runs it) the script fails when the structure gets worse
than what KNOWN records: a cycle not listed there, a function over 80
lines or a file over the cap that is not listed, or a listed one that
grew. Shrinking one is welcome; then lower its figure here (or drop it).
"""

import argparse
import os
import re
import sys

CRATES = [
    ("goldylox", "engine/src"),
    ("goldylox-sandbox", "sandbox/src"),
    ("goldylox-host", "host/src"),
]
FILE_CAP = 600
# A builder and its product name each other by design (`Cache::builder()`
# returns the builder, `build()` returns the cache): the one cycle allowed.
ALLOWED = {("goldylox", ("builder",), ("cache",))}

FN_CAP = 80
# Today's exceptions, each at the size it has: the ratchet --check holds.
KNOWN_CYCLES = {
    # The ACL model names the command table (categories, rules by command);
    # the commands are checked against it.
    ("goldylox-host", ("server::acl", "server::commands", "server::keyspace")),
    ("goldylox-host", ("server::info", "server::memory")),
    # Each command family names the table, and the table names its handlers.
    ("goldylox-host", ("server::commands::acl", "server::commands::bits",
                       "server::commands::blocking", "server::commands::connection",
                       "server::commands::diagnostics", "server::commands::dump",
                       "server::commands::introspect", "server::commands::lists", "server::commands::scripts",
                       "server::commands::sets", "server::commands::sort",
                       "server::commands::table", "server::commands::transaction",
                       "server::commands::unsupported", "server::commands::zalgebra",
                       "server::commands::zrange", "server::commands::zsets")),
    ("goldylox-host", ("server::scripting::run", "server::scripting::structs",
                       "server::scripting::vm")),
}
KNOWN_LONG_FUNCTIONS = {
    ("host/src/server/mod.rs", "serve_client"): 146,
    ("host/src/server/keyspace/events.rs", "events"): 121,
    ("host/src/server/reload.rs", "config_set"): 88,
    ("engine/src/cache/lifecycle.rs", "start"): 87,
    ("host/src/server/commands/mod.rs", "run_command"): 82,
    ("host/src/server/commands/blocking.rs", "attempt"): 81,
}
KNOWN_LARGE_FILES = {
    "host/src/server/commands/lists.rs": 622,
    "host/src/server/commands/bits.rs": 620,
    "host/src/server/scripting/cjson.rs": 614,
    "host/src/server/mod.rs": 609,
}

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?"
                r"(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?fn\s+(\w+)")
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")


def policy_crates(root):
    out = []
    base = os.path.join(root, "policies")
    for name in sorted(os.listdir(base)):
        src = os.path.join(base, name, "src")
        if os.path.isdir(src):
            out.append((f"policy-{name}", os.path.relpath(src, root)))
    return out


def strip(line, state):
    """The line without comments, strings and char literals; state carries
    an open block comment across lines."""
    out = []
    i = 0
    n = len(line)
    while i < n:
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"] = False
            i = end + 2
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        if c == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            out.append('""')
            i = j + 1
            continue
        if c == "'" and i + 2 < n and (line[i + 2] == "'" or line[i + 1] == "\\"):
            j = line.find("'", i + 2 if line[i + 1] != "\\" else i + 3)
            out.append("' '")
            i = (j + 1) if j > 0 else n
            continue
        out.append(c)
        i += 1
    return "".join(out)


def production_lines(path):
    """(number, code) of the lines outside `#[cfg(test)]` items."""
    with open(path, encoding="utf-8") as f:
        raw = f.read().split("\n")
    state = {"block": False}
    code = [strip(l, state) for l in raw]
    keep = []
    skip_depth = None
    depth = 0
    pending_test = False
    for no, line in enumerate(code, 1):
        s = line.strip()
        if skip_depth is None and s.startswith("#[cfg(test)]"):
            pending_test = True
            continue
        opened = line.count("{")
        closed = line.count("}")
        if pending_test and skip_depth is None:
            if opened or s.endswith(";"):
                pending_test = False
                if opened > closed:
                    skip_depth = depth
                depth += opened - closed
                continue
        if skip_depth is not None:
            depth += opened - closed
            if depth <= skip_depth:
                skip_depth = None
            continue
        depth += opened - closed
        keep.append((no, line))
    return keep


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def functions(lines):
    """(name, first line, length) of every fn with a body."""
    out = []
    for idx, (no, line) in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth = 0
        started = False
        for no2, l2 in lines[idx:]:
            if not started and ";" in l2 and "{" not in l2:
                break  # a declaration without a body
            for ch in l2:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
            if started and depth <= 0:
                out.append((m.group(1), no, no2 - no + 1))
                break
    return out


def use_paths(tree):
    """The full paths a `use` tree names: `a::{b, c::d}` -> a::b, a::c::d."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, text):
        depth = 0
        part = ""
        items = []
        for ch in text:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                items.append(part)
                part = ""
            else:
                part += ch
        items.append(part)
        for item in items:
            if not item:
                continue
            brace = item.find("{")
            if brace >= 0:
                walk(prefix + item[:brace], item[brace + 1 : item.rfind("}")])
            else:
                out.append(prefix + item.split("as")[0] if "as" in item.split("::")[-1][:2] else prefix + item)

    walk("", tree)
    return out


def resolve(module, modules, segs):
    """The module a path (split on `::`) written in `module` lands in."""
    if not segs:
        return None
    head = segs[0]
    if head == "crate":
        base, segs = (), segs[1:]
    elif head == "self":
        base, segs = module, segs[1:]
    elif head == "super":
        base = module[:-1]
        segs = segs[1:]
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    elif module + (head,) in modules:
        base = module
    else:
        return None
    target = base
    for p in segs:
        if target + (p,) not in modules:
            break
        target = target + (p,)
    return target


def edges(module, modules, lines):
    """The modules this one names: through `use` trees, and through
    `crate::`, `super::`, `self::` and child-module paths in code."""
    out = set()
    text = "\n".join(line for _, line in lines)
    paths = []
    for m in re.finditer(r"\buse\s+([^;]*);", text):
        paths += use_paths(m.group(1))
    body = re.sub(r"\buse\s+[^;]*;", "", text)
    paths += re.findall(r"\b\w+(?:::\w+)+", body)
    for path in paths:
        target = resolve(module, modules, [p for p in path.split("::") if p])
        if target not in (None, module, ()):
            out.add(target)
    return out


def layered(graph):
    """The graph among siblings, and the child-to-ancestor edges.

    An edge between two modules becomes an edge between their ancestors that
    are children of the same parent (a subtree names another subtree); an
    edge from a module to its own ancestor is returned apart, and an edge
    from a parent into its own child (the parent is its children's face) is
    not a dependency worth a figure."""
    sibling = {}
    upward = []
    for a, targets in graph.items():
        for b in targets:
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            if common == len(b):
                upward.append((a, b))
            elif common == len(a):
                continue
            else:
                sibling.setdefault(a[: common + 1], set()).add(b[: common + 1])
    return sibling, sorted(upward)


def tarjan(graph):
    index = {}
    low = {}
    stack = []
    on = set()
    comps = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--verbose", action="store_true", help="list every child-to-parent edge")
    ap.add_argument("--check", action="store_true",
                    help="fail when the structure is worse than KNOWN records")
    args = ap.parse_args()
    root = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
    fns = []
    big = []
    cycles = []
    ups = []
    for crate, src in CRATES + policy_crates(root):
        src = os.path.join(root, src)
        files = []
        for d, _, names in os.walk(src):
            for n in names:
                if n.endswith(".rs"):
                    files.append(os.path.join(d, n))
        mods = {module_of(src, p): p for p in files}
        graph = {}
        for mod, path in sorted(mods.items()):
            with open(path, encoding="utf-8") as f:
                total = f.read().count("\n")
            rel = os.path.relpath(path, root)
            if total > FILE_CAP:
                big.append((total, rel))
            lines = production_lines(path)
            graph[mod] = edges(mod, mods, lines)
            for name, first, length in functions(lines):
                fns.append((length, f"{rel}:{first}", name))
        sibling, upward = layered(graph)
        for name, a, b in ALLOWED:
            if name == crate:
                sibling.get(a, set()).discard(b)
                sibling.get(b, set()).discard(a)
        ups += [(crate, a, b) for a, b in upward]
        for comp in tarjan(sibling):
            cycles.append((crate, ["::".join(m) for m in comp]))
    allowed = ", ".join(f"{'::'.join(a)} <-> {'::'.join(b)}" for _, a, b in sorted(ALLOWED))
    print(f"module cycles: {len(cycles)} (allowed, a builder and its product: {allowed})")
    for crate, comp in cycles:
        print(f"  {crate}: {' <-> '.join(comp)}")
    print(f"modules that name their parent's own items: {len(ups)}")
    if args.verbose:
        for crate, a, b in ups:
            print(f"  {crate}: {'::'.join(a)} -> {'::'.join(b)}")
    fns.sort(reverse=True)
    over = sum(1 for f in fns if f[0] > 80)
    print(f"functions over 80 lines: {over}; the {args.top} longest:")
    for length, where, name in fns[: args.top]:
        print(f"  {length:4d}  {name:<28} {where}")
    print(f"files over {FILE_CAP} lines: {len(big)}")
    for total, rel in sorted(big, reverse=True):
        print(f"  {total:4d}  {rel}")
    if args.check:
        problems = worse(cycles, fns, big)
        for p in problems:
            print(f"worse than recorded: {p}", file=sys.stderr)
        if problems:
            sys.exit(1)
        print("structure check: nothing worse than recorded")


def worse(cycles, fns, big):
    """What is worse than the KNOWN figures: new cycles, new or longer
    functions over FN_CAP, new or longer files over FILE_CAP."""
    problems = []
    for crate, comp in cycles:
        if (crate, tuple(comp)) not in KNOWN_CYCLES:
            problems.append(f"a module cycle in {crate}: {' <-> '.join(comp)}")
    for length, where, name in fns:
        if length <= FN_CAP:
            continue
        path = where.rsplit(":", 1)[0]
        known = KNOWN_LONG_FUNCTIONS.get((path, name))
        if known is None or length > known:
            problems.append(f"{name} ({where}) is {length} lines; the cap is {FN_CAP}"
                            + (f", and it was {known}" if known else ""))
    for total, rel in big:
        known = KNOWN_LARGE_FILES.get(rel)
        if known is None or total > known:
            problems.append(f"{rel} is {total} lines; the cap is {FILE_CAP}"
                            + (f", and it was {known}" if known else ""))
    return problems


if __name__ == "__main__":
    main()
