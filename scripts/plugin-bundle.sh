#!/usr/bin/env bash
# Builds a plugin's server executables and writes dist/<id>-<version>.tar.gz in Mattermost's
# bundle layout (<id>/plugin.json, <id>/server/dist/plugin-<os>-<arch>, <id>/assets/).
#   scripts/plugin-bundle.sh PACKAGE MANIFEST [ASSETS_DIR]
#   DIST_PLATFORMS="linux-amd64" scripts/plugin-bundle.sh ...   only those executables
# `make dist` bundles Data Sync (datasync-plugin, plugin.json, assets/ without assets/demo);
# `make hello-bundle` the example plugin.
#
# Platforms (DIST_PLATFORMS, default "linux-amd64 linux-arm64"):
#   linux-amd64   static musl, built by cargo with Debian's musl-gcc for the C allocator
#   linux-arm64   static musl, cross-linked by cargo-zigbuild with zig from PyPI
#                 (scripts/install-zig.sh installs both when missing)
#   darwin-amd64, darwin-arm64  only on request and with SDKROOT pointing at a macOS SDK:
#                 the code compiles for macOS, but linking needs Apple's CoreFoundation and
#                 SystemConfiguration frameworks, which zig does not ship (untested here)
#   windows-amd64 refused: the plugin side of go-plugin listens on a unix socket
# (ARCHITECTURE.md, "The bundle and its platforms"). The manifest's server.executables lists
# exactly the platforms built. At the end the executables' sizes (goal: at most 15 MB each)
# and the wall time are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
package=$1
manifest=$2
assets=${3:-}
platforms=${DIST_PLATFORMS:-linux-amd64 linux-arm64}
target="${CARGO_TARGET_DIR:-target}"
SECONDS=0

triple() {
  case "$1" in
    linux-amd64) echo x86_64-unknown-linux-musl ;;
    linux-arm64) echo aarch64-unknown-linux-musl ;;
    darwin-amd64|darwin-arm64)
      if [ -z "${SDKROOT:-}" ]; then
        echo "plugin-bundle: $1 needs SDKROOT=<a macOS SDK> (CoreFoundation and SystemConfiguration are linked; zig has no frameworks)" >&2
        return 1
      fi
      case "$1" in darwin-amd64) echo x86_64-apple-darwin ;; *) echo aarch64-apple-darwin ;; esac ;;
    windows-amd64)
      echo "plugin-bundle: windows-amd64 is not built: the plugin listens on a unix socket, and go-plugin on Windows expects TCP (ARCHITECTURE.md)" >&2
      return 1 ;;
    *) echo "plugin-bundle: unknown platform $1 (known: linux-amd64 linux-arm64, darwin-amd64 darwin-arm64 with SDKROOT)" >&2
      return 1 ;;
  esac
}

# Check every platform name before building anything.
for p in $platforms; do triple "$p" >/dev/null; done

version=$(cargo metadata --no-deps --format-version 1 \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]==sys.argv[1]))' "$package")

binaries=()
for p in $platforms; do
  t=$(triple "$p")
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
  if [ "$p" = linux-amd64 ]; then
    # The allocator (mimalloc) is C: compiled for musl with Debian's musl-gcc.
    if ! command -v musl-gcc >/dev/null; then
      if [ "$(id -u)" = 0 ]; then
        (apt-get install -y -q musl-tools || (apt-get update -q && apt-get install -y -q musl-tools)) >/dev/null
      else
        echo "plugin-bundle: musl-gcc is missing; install it first (Debian/Ubuntu: sudo apt-get install musl-tools)" >&2
        exit 1
      fi
    fi
    CC_x86_64_unknown_linux_musl=musl-gcc cargo build -q -p "$package" --profile dist --target "$t"
  else
    command -v cargo-zigbuild >/dev/null || bash scripts/install-zig.sh
    # With no `zig` on PATH, cargo-zigbuild runs `python3 -m ziglang`: the venv's python has it.
    zig_venv=${ZIG_VENV:-$HOME/.cache/datasync-zig}
    [ -x "$zig_venv/bin/python" ] || bash scripts/install-zig.sh
    PATH="$zig_venv/bin:$PATH" cargo zigbuild -q -p "$package" --profile dist --target "$t"
  fi
  binaries+=(--binary "$p=$target/$t/dist/$package")
done

extra=()
# assets/demo is the demo database of `make demo`, not something the plugin reads.
[ -n "$assets" ] && extra=(--assets "$assets" --assets-skip demo)
out=$(python3 scripts/bundle.py --manifest "$manifest" --version "$version" "${binaries[@]}" "${extra[@]}" --out dist)

echo "$out ($(du -k "$out" | cut -f1) KiB), built in ${SECONDS}s:"
# Every executable as the tar holds it (mode 0755) and its size against the 15 MB goal.
python3 - "$out" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    for m in tar.getmembers():
        if "/server/dist/" in m.name:
            mb = m.size / 1e6
            note = "" if mb <= 15 else "  (over the 15 MB goal)"
            print(f"  {m.name:<40} {oct(m.mode)[2:]:>4} {mb:6.1f} MB{note}")
EOF
