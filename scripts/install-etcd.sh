#!/usr/bin/env bash
# Installs etcd from Debian, only if missing: the server (the etcd tests start their own
# members on loopback) and etcdctl (handy for looking inside). Building sdnd needs neither.
# Idempotent and silent when everything is already there.
set -euo pipefail

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package may start a system etcd on the default ports; the tests start their own
# on free ports, so a running system service does no harm and is left alone.
command -v etcd >/dev/null
