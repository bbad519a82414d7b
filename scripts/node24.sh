# shellcheck shell=bash
# Puts Node.js >= 24 first on PATH, installing it from the npm registry (package node-linux-<arch>@24)
# into ${FAAS_CACHE_DIR:-$HOME/.cache/faas}/node24 when the node on PATH is older. Also points
# npm_config_nodedir at that Node's headers, so native addons (isolated-vm) build against Node 24 and
# not against whatever ~/.npmrc names.
#
#   source scripts/node24.sh      # humans: in your shell
#   . scripts/node24.sh           # .ci/run
#
# Written to be sourced: no `set -e`, no exit; it returns non-zero on failure.

faas_node_major() {
  local version
  version="$("${1:-node}" --version 2>/dev/null)" || return 0
  version="${version#v}"
  echo "${version%%.*}"
}

faas_node24() {
  local cache="${FAAS_CACHE_DIR:-$HOME/.cache/faas}"
  local major
  major="$(faas_node_major node)"
  if [ -n "$major" ] && [ "$major" -ge 24 ]; then
    local prefix
    prefix="$(dirname "$(dirname "$(command -v node)")")"
    if [ -f "$prefix/include/node/node.h" ]; then export npm_config_nodedir="$prefix"; fi
    return 0
  fi

  # npm reads its global npmrc from the running Node's prefix. Swapping Node would silently drop the
  # machine's global settings (a CA file, a registry mirror, a proxy), so keep pointing at the old one.
  local prev_global=""
  if command -v npm >/dev/null 2>&1; then
    prev_global="$(npm config get globalconfig 2>/dev/null || true)"
  fi

  local arch
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "node24.sh: no node-linux package for $(uname -m)" >&2; return 1 ;;
  esac
  local pkg="$cache/node24/node_modules/node-linux-$arch"
  local have
  have="$(faas_node_major "$pkg/bin/node")"
  if [ -z "$have" ] || [ "$have" -lt 24 ]; then
    echo "node24.sh: installing node-linux-$arch@24 into $cache/node24 (node on PATH is ${major:-missing})" >&2
    mkdir -p "$cache/node24" || return 1
    npm install --no-save --no-audit --no-fund --prefix "$cache/node24" "node-linux-$arch@24" >&2 || return 1
    have="$(faas_node_major "$pkg/bin/node")"
    if [ -z "$have" ] || [ "$have" -lt 24 ]; then
      echo "node24.sh: $pkg/bin/node is not Node 24" >&2
      return 1
    fi
  fi
  export PATH="$pkg/bin:$PATH"
  export npm_config_nodedir="$pkg"
  if [ -n "$prev_global" ] && [ -f "$prev_global" ] && [ -z "${npm_config_globalconfig:-}" ]; then
    export npm_config_globalconfig="$prev_global"
  fi
  hash -r 2>/dev/null || true
}

faas_node24
