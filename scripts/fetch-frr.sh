#!/bin/sh
# Fetches the parsers the sdn-gen tests check generated files with, without installing
# anything on the host:
#   .tools/frr        Debian's frr (vtysh) + libyang2, extracted; run .tools/frr/vtysh-dryrun FILE
#   .tools/ifupdown2  Debian's ifupdown2, extracted; run .tools/ifupdown2/ifquery-file FILE,
#                     supported attribute names in .tools/ifupdown2/attributes.txt
# Idempotent: returns at once when both are already in place and working.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
FRR="$TOOLS/frr"
IFU="$TOOLS/ifupdown2"

frr_ok() { [ -x "$FRR/vtysh-dryrun" ] && "$FRR/vtysh-dryrun" /dev/null >/dev/null 2>&1; }
ifu_ok() {
    [ -x "$IFU/ifquery-file" ] && [ -s "$IFU/attributes.txt" ] &&
        grep -q '^multiple_vlan_aware_bridge_support=1' \
            "$IFU/root/usr/share/ifupdown2/etc/network/ifupdown2/ifupdown2.conf"
}

if frr_ok && ifu_ok; then
    exit 0
fi

command -v apt-get >/dev/null || { echo "apt-get is required (Debian/Ubuntu host)" >&2; exit 1; }
command -v dpkg >/dev/null || { echo "dpkg is required" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

download() {
    # apt-get download needs package lists; refresh them once if the first try fails.
    (cd "$WORK" && apt-get download "$@" >/dev/null 2>&1) || {
        apt-get update >/dev/null
        (cd "$WORK" && apt-get download "$@" >/dev/null)
    }
}

if ! frr_ok; then
    rm -rf "$FRR"
    download frr libyang2
    mkdir -p "$FRR/root" "$FRR/etc"
    for deb in "$WORK"/frr_*.deb "$WORK"/libyang2_*.deb; do
        dpkg -x "$deb" "$FRR/root"
    done
    : > "$FRR/etc/vtysh.conf"
    cat > "$FRR/vtysh-dryrun" <<'WRAP'
#!/bin/sh
# Checks an frr.conf with FRR's own parser; prints "line N: ..." for each rejected line.
D=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$D/root/usr/lib/x86_64-linux-gnu/frr:$D/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    exec "$D/root/usr/bin/vtysh" --config_dir "$D/etc" --dryrun -f "$1"
WRAP
    chmod +x "$FRR/vtysh-dryrun"
    missing=$(LD_LIBRARY_PATH="$FRR/root/usr/lib/x86_64-linux-gnu/frr:$FRR/root/usr/lib/x86_64-linux-gnu" \
        ldd "$FRR/root/usr/bin/vtysh" | grep 'not found' || true)
    if [ -n "$missing" ]; then
        echo "vtysh needs libraries that are not installed:" >&2
        echo "$missing" >&2
        exit 1
    fi
    frr_ok || { echo "vtysh --dryrun does not run" >&2; exit 1; }
fi

if ! ifu_ok; then
    command -v python3 >/dev/null || { echo "python3 is required for ifupdown2" >&2; exit 1; }
    rm -rf "$IFU"
    download ifupdown2
    mkdir -p "$IFU/root"
    dpkg -x "$WORK"/ifupdown2_*.deb "$IFU/root"
    SHARE="$IFU/root/usr/share/ifupdown2"
    # ifupdown2 looks for its configuration next to its package when /etc has none.
    cp -r "$IFU/root/etc" "$SHARE/etc"
    # Proxmox VE's ifupdown2 allows several vlan-aware bridges (QinQ zones need them).
    sed -i 's/^multiple_vlan_aware_bridge_support=0/multiple_vlan_aware_bridge_support=1/' \
        "$SHARE/etc/network/ifupdown2/ifupdown2.conf"
    ln -sf __main__.py "$SHARE/ifquery"
    cat > "$IFU/ifquery-file" <<'WRAP'
#!/bin/sh
# Parses an interfaces file with ifupdown2 (query mode: reads only, takes no lock).
D=$(cd "$(dirname "$0")" && pwd)
exec python3 "$D/root/usr/share/ifupdown2/ifquery" -a -i "$1"
WRAP
    chmod +x "$IFU/ifquery-file"
    # Attribute names of all addons; the Open vSwitch ones only load where OVS is installed,
    # so they are read from the addon modules directly.
    (
        cd "$SHARE"
        python3 ./ifquery --syntax-help 2>/dev/null | sed -n 's/^  \([a-z0-9][a-z0-9_-]*\)$/\1/p'
        python3 -c '
import sys
sys.path.insert(0, ".")
from addons.openvswitch import openvswitch
from addons.openvswitch_port import openvswitch_port
for module in (openvswitch, openvswitch_port):
    print("\n".join(module._modinfo["attrs"]))
'
    ) | sort -u > "$IFU/attributes.txt"
    ifu_ok || { echo "ifupdown2 attribute list is empty" >&2; exit 1; }
fi
echo "FRR and ifupdown2 parsers ready in $TOOLS"
