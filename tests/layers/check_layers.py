#!/usr/bin/env python3
"""check_layers.py SRC_DIR: fails when a file includes a header of a layer it may not use.

The layers and what each may include are docs/architecture.md's "Layers" table; this is that
table in code. The compiler already refuses most upward includes (each layer sees only the
include roots of the layers below it, cmake/MinivmmLayers.cmake); this check also covers the
public API rule (which <minivmm/...> headers a layer may use) and names every offence at once.
"""
import os
import re
import sys

# layer folder -> layers it may include (besides itself), bottom up.
ALLOWED = {
    "util": [],
    "memory": ["util"],
    "arch/x86_64": ["memory", "util"],
    "kvm": ["memory", "util"],
    "backends": ["memory", "util"],
    "devices": ["arch/x86_64", "memory", "util"],
    "devices/virtio": ["devices", "backends", "memory", "util"],
    "loader": ["arch/x86_64", "memory", "util"],
    "acpi": ["arch/x86_64", "memory", "util"],
    "console": ["devices", "util"],
    "vcpu": ["kvm", "devices", "arch/x86_64", "memory", "util"],
    "vmm": ["vcpu", "console", "acpi", "loader", "devices/virtio", "devices", "backends", "kvm",
            "arch/x86_64", "memory", "util"],
    "cli": [],
}
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


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
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
