#!/usr/bin/env python3
"""check_layers.py SRC_DIR: fails when a file includes a header of a layer it may not use.

The layers and what each may include are read from the minivmm_layer() calls of
CMakeLists.txt, the DEPS the build itself uses (docs/architecture.md "Layers" describes them).
The compiler already refuses an upward include in every file it compiles (each layer sees
only the include roots of its DEPS, cmake/MinivmmLayers.cmake); this check also covers
headers nothing compiles yet and the public-API rule (which <minivmm/...> headers a layer may
use), and names every offence at once.
"""
import os
import re
import sys



def read_layers(cmake_lists):
    """layer folder -> folders it may include, from the minivmm_layer() calls of CMakeLists.txt
    (the same DEPS the build gives each layer's include roots), plus cli, which may include none."""
    text = open(cmake_lists, encoding="utf-8").read()
    calls = re.findall(r"^minivmm_layer\((\w+) ([^)]*)\)", text, re.M)
    folders, deps = {}, {}
    for name, args in calls:
        words = args.split()
        folders[name] = words[words.index("DIR") + 1]
        listed, key = [], None
        for w in words:
            if w.isupper():
                key = w
            elif key == "DEPS":
                listed.append(w)
        deps[name] = listed
    allowed = {folders[n]: [folders[d] for d in deps[n]] for n in folders}
    allowed["cli"] = []
    return allowed


# Public headers (include/minivmm/) a layer may use: every layer may throw the API's errors;
# the layers that implement the API (console: Console; vmm: Vm, VmConfig, ExitStatus) and the
# CLI, which is a client of it, may use all of it.
PUBLIC_ALL = {"console", "vmm", "cli"}
PUBLIC_ANY_LAYER = {"minivmm/error.hpp"}


def layer_of(rel):
    best = None
    for layer in ALLOWED:
        if rel == layer or rel.startswith(layer + "/"):
            if best is None or len(layer) > len(best):
                best = layer
    return best


ALLOWED = {}


def main():
    global ALLOWED
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    ALLOWED = read_layers(os.path.join(src, "..", "CMakeLists.txt"))
    if not ALLOWED:
        print("check_layers: no minivmm_layer() calls found in CMakeLists.txt")
        return 1
    problems = []
    files = 0
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith((".cpp", ".hpp")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            layer = layer_of(os.path.dirname(rel))
            if layer is None:
                problems.append(f"{rel}: in no layer (add its folder to the Layers table)")
                continue
            files += 1
            for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
                m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
                if not m:
                    continue
                kind, inc = m.groups()
                if kind == "<":
                    if inc.startswith("minivmm/") and layer not in PUBLIC_ALL and inc not in PUBLIC_ANY_LAYER:
                        problems.append(f"{rel}:{lineno}: layer {layer} includes public <{inc}>; "
                                        f"only {', '.join(sorted(PUBLIC_ANY_LAYER))} is allowed below console")
                    continue
                target = layer_of(os.path.dirname(inc))
                if target is None:
                    problems.append(f"{rel}:{lineno}: \"{inc}\" is not in any layer")
                elif target != layer and target not in ALLOWED[layer]:
                    problems.append(f"{rel}:{lineno}: layer {layer} includes \"{inc}\" of layer {target}, "
                                    f"which it may not use (allowed: {', '.join(ALLOWED[layer]) or 'none'})")
    for p in problems:
        print(p)
    print(f"check_layers: {files} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
