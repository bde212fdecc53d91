#!/usr/bin/env python3
"""Assemble a Mattermost plugin bundle: dist/<id>-<version>.tar.gz.

Layout (Mattermost's starter template): one top-level folder named after the plugin id with
plugin.json, server/dist/plugin-<os>-<arch> (mode 0755), optional assets/ (less any --assets-skip
entries) and webapp/dist/main.js.
The manifest's server.executables is rewritten to list exactly the platforms given, so the
server never looks for a binary that is not in the bundle.

    scripts/bundle.py --manifest examples/hello/plugin.json \
        --binary linux-amd64=target/x86_64-unknown-linux-musl/release/rs-hello --out dist
"""

import argparse
import io
import json
import os
import sys
import tarfile


def add_bytes(tar, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 0
    tar.addfile(info)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--binary", action="append", default=[], metavar="OS-ARCH=PATH")
    parser.add_argument("--assets", help="directory copied to <id>/assets")
    parser.add_argument("--assets-skip", action="append", default=[], metavar="NAME",
                        help="a top-level entry of --assets left out (repeatable)")
    parser.add_argument("--webapp", help="built webapp main.js")
    parser.add_argument("--version", help="overrides the manifest version")
    parser.add_argument("--out", default="dist")
    args = parser.parse_args()

    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    plugin_id = manifest.get("id")
    if not plugin_id:
        sys.exit(f"{args.manifest}: no plugin id")
    if args.version:
        manifest["version"] = args.version
    version = manifest.get("version")
    if not version:
        sys.exit(f"{args.manifest}: no version (pass --version)")
    if not args.binary:
        sys.exit("at least one --binary OS-ARCH=PATH is needed")

    executables = {}
    binaries = []
    for spec in args.binary:
        platform, _, path = spec.partition("=")
        if not path or not os.path.isfile(path):
            sys.exit(f"--binary {spec}: no such file")
        rel = f"server/dist/plugin-{platform}"
        executables[platform] = rel
        binaries.append((rel, path))
    manifest.setdefault("server", {})
    manifest["server"].pop("executable", None)
    manifest["server"]["executables"] = executables
    if args.webapp:
        manifest.setdefault("webapp", {})["bundle_path"] = "webapp/dist/main.js"

    assets = []
    if args.assets:
        for root, dirs, files in os.walk(args.assets):
            if root == args.assets:
                dirs[:] = [d for d in dirs if d not in args.assets_skip]
                files = [f for f in files if f not in args.assets_skip]
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                assets.append((os.path.relpath(path, args.assets), path))
    # The server shows the icon from the bundle: a manifest naming a missing one is a mistake.
    icon = manifest.get("icon_path")
    if icon and icon.removeprefix("assets/") not in {rel for rel, _ in assets}:
        sys.exit(f"{args.manifest}: icon_path {icon!r} is not among the bundle's assets")

    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, f"{plugin_id}-{version}.tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        add_dir(tar, plugin_id)
        body = (json.dumps(manifest, indent=2) + "\n").encode()
        add_bytes(tar, f"{plugin_id}/plugin.json", body, 0o644)
        for rel, path in binaries:
            with open(path, "rb") as f:
                add_bytes(tar, f"{plugin_id}/{rel}", f.read(), 0o755)
        for rel, path in assets:
            with open(path, "rb") as f:
                add_bytes(tar, f"{plugin_id}/assets/{rel}", f.read(), 0o644)
        if args.webapp:
            with open(args.webapp, "rb") as f:
                add_bytes(tar, f"{plugin_id}/webapp/dist/main.js", f.read(), 0o644)
    print(out)


if __name__ == "__main__":
    main()
