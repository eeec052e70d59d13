#!/usr/bin/env bash
# Installs what the etcd store backend needs, from Debian, only if missing:
# etcd (the server, for the multi-node tests), etcdctl (handy for looking inside) and protoc
# (the etcd-client crate compiles etcd's protobuf definitions at build time).
# Idempotent and silent when everything is already there.
set -euo pipefail

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package may start a system etcd on the default ports; the tests start their own
# on free ports, so a running system service does no harm and is left alone.
command -v etcd >/dev/null && command -v protoc >/dev/null
