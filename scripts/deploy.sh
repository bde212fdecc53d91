#!/usr/bin/env bash
# `make deploy`: uploads the plugin bundle to a Mattermost server (replacing an installed
# version) and enables it, through the REST API: POST /api/v4/plugins (multipart field
# `plugin`, `force=true`), then POST /api/v4/plugins/<id>/enable.
#
#   scripts/deploy.sh [BUNDLE]      default: dist/<id>-<version>.tar.gz (`make dist` makes it)
#
# Either (the first that is set wins):
#   MM_LOCALSOCKETPATH          the server's local-mode socket (ServiceSettings.EnableLocalMode;
#                               e.g. /var/tmp/mattermost_local.socket): no token needed
#   MM_SERVICESETTINGS_SITEURL  the server's URL, with
#   MM_ADMIN_TOKEN              a system admin's personal access token (sent as Bearer; never
#                               printed, never on curl's command line)
# The server must allow plugin uploads: PluginSettings.EnableUploads, set in config.json or as
# MM_PLUGINSETTINGS_ENABLEUPLOADS=true (the System Console cannot change it).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "deploy: $*" >&2; exit 1; }

manifest=plugin.json
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$manifest")
bundle=${1:-}
if [ -z "$bundle" ]; then
  version=$(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="datasync-plugin"))')
  bundle="dist/$id-$version.tar.gz"
fi
[ -f "$bundle" ] || fail "no bundle at $bundle (run \`make dist\` first)"

body=$(mktemp)
header=""
trap 'rm -f "$body" ${header:+"$header"}' EXIT
curl_args=(-sS --connect-timeout 10 --max-time 600)
if [ -n "${MM_LOCALSOCKETPATH:-}" ]; then
  [ -S "$MM_LOCALSOCKETPATH" ] || fail "MM_LOCALSOCKETPATH=$MM_LOCALSOCKETPATH is not a socket (is ServiceSettings.EnableLocalMode on, and is this the server's machine?)"
  curl_args+=(--unix-socket "$MM_LOCALSOCKETPATH")
  base="http://localhost"
  where="local mode ($MM_LOCALSOCKETPATH)"
else
  missing=()
  [ -n "${MM_SERVICESETTINGS_SITEURL:-}" ] || missing+=(MM_SERVICESETTINGS_SITEURL)
  [ -n "${MM_ADMIN_TOKEN:-}" ] || missing+=(MM_ADMIN_TOKEN)
  if [ ${#missing[@]} -gt 0 ]; then
    fail "${missing[*]} not set: set MM_SERVICESETTINGS_SITEURL (e.g. https://chat.example.com) and MM_ADMIN_TOKEN (a system admin's personal access token), or MM_LOCALSOCKETPATH for local mode"
  fi
  base=${MM_SERVICESETTINGS_SITEURL%/}
  where=$base
  # The token goes to curl in a header file (mode 0600), not as an argument `ps` would show.
  header=$(mktemp)
  printf 'Authorization: Bearer %s\n' "$MM_ADMIN_TOKEN" >"$header"
  curl_args+=(-H "@$header")
fi

# call WHAT METHOD PATH [CURL ARGS...]: fails with the server's own message on a non-2xx answer.
call() {
  local what=$1 method=$2 path=$3
  shift 3
  local status
  if ! status=$(curl "${curl_args[@]}" -X "$method" -o "$body" -w '%{http_code}' "$@" "$base$path"); then
    fail "$what: could not reach $where"
  fi
  case "$status" in
    2??) return 0 ;;
  esac
  local message
  message=$(python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
try:
    e = json.loads(raw)
    print(e.get("message") or e.get("id") or raw[:300].decode("utf-8", "replace"))
except ValueError:
    print(raw[:300].decode("utf-8", "replace").strip() or "(empty body)")
' "$body")
  local hint=""
  case "$status" in
    401) hint=" (is MM_ADMIN_TOKEN a valid personal access token?)" ;;
    403) hint=" (the token's user must be a system admin)" ;;
    413) hint=" (the bundle is larger than FileSettings.MaxFileSize or a proxy's body limit)" ;;
    501) hint=" (set PluginSettings.EnableUploads to true in config.json, or MM_PLUGINSETTINGS_ENABLEUPLOADS=true)" ;;
  esac
  fail "$what failed: HTTP $status from $where: $message$hint"
}

echo "deploy: uploading $bundle to $where"
call "upload" POST /api/v4/plugins -F "plugin=@$bundle" -F force=true
echo "deploy: enabling $id"
call "enable" POST "/api/v4/plugins/$id/enable"
echo "deploy: $id is installed and enabled"
