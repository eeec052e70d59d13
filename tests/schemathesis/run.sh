#!/usr/bin/env bash
# Fuzzes a live sdnd with schemathesis against its own OpenAPI document (GET /api2/openapi.json):
# a bounded number of examples per operation; fails on any 5xx, any status the document does not
# list, any answer whose content type or shape doesn't match it, and any request breaking the
# document that is not refused. First the served document is validated as OpenAPI 3.1.
#
# Usage: tests/schemathesis/run.sh  (SDND_BIN: the binary, default target/debug/sdnd;
# SCHEMATHESIS_EXAMPLES: examples per operation; SCHEMATHESIS_SEED: the seed, for a rerun;
# SCHEMATHESIS_CHECKS: other checks, to explore; SCHEMATHESIS_PATHS: a regular expression, to
# fuzz only the paths it matches, e.g. '^/cluster/sdn/(ipams|dns)').
set -euo pipefail
cd "$(dirname "$0")/../.."

sdnd=${SDND_BIN:-target/debug/sdnd}
examples=${SCHEMATHESIS_EXAMPLES:-20}
seed=${SCHEMATHESIS_SEED:-20261201}
checks=${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection}
st=.tools/venv/bin/schemathesis
[ -x "$sdnd" ] || { echo "error: $sdnd is missing: build it first (cargo build -p sdnd)" >&2; exit 1; }
[ -x "$st" ] || { echo "error: $st is missing: scripts/test installs it (tests/schemathesis/requirements.txt)" >&2; exit 1; }

work=$(mktemp -d)
server=
services=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$services" ]; then kill "$services" 2>/dev/null || true; wait "$services" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

data=$work/data
node=$work/node
mkdir -p "$data" "$node"
cat > "$node/facts.json" <<'JSON'
{"node":"stnode","route-iface":"vmbr0","route-ip":"192.168.0.1","mac":"bc:24:11:1d:69:60","bridge-ports":{"vmbr0":["eth0"]}}
JSON
printf 'auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eth0\n' > "$node/interfaces"

# A NetBox, phpIPAM and PowerDNS stand-in on loopback: sdnd asks an IPAM's or DNS server's
# service before writing it (the reference's on_update_hook), and this answers those checks for
# the objects made below.
.tools/venv/bin/python - "$work/services-port" <<'PY' &
import http.server, sys
class Check(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        parts = self.path.rstrip("/").split("/")
        if self.path.endswith("/ipam/aggregates/"):
            body = b'{"count":0,"results":[]}'
        elif parts[-2:-1] == ["sections"]:
            body = b'{"code":200,"success":true,"data":{"id":"1"}}'
        elif parts[-2:-1] == ["servers"]:
            body = b'{"type":"Server","id":"localhost"}'
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Check)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(httpd.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
httpd.serve_forever()
PY
services=$!
for _ in $(seq 1 200); do [ -s "$work/services-port" ] && break; sleep 0.05; done
[ -s "$work/services-port" ] || { echo "error: the service stand-in did not start" >&2; exit 1; }
stand_in=http://127.0.0.1:$(cat "$work/services-port")

# The server on an ephemeral loopback port, with its node agent (so tasks and node paths are real).
# The node's FRR is FRR's recorded output (a machine without FRR can't answer the EVPN and
# fabric status paths: they would be 503s, which count as server errors here).
# The fuzzed IPAMs and DNS servers name random urls, which sdnd then calls: every call but to
# the stand-in goes through a proxy that isn't there (so is refused on loopback, a 400), never
# to another host.
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 all_proxy=http://127.0.0.1:9 \
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 \
    SDND_LOG=warn "$sdnd" serve --ipam-timeout 5 --data-dir "$data" --listen 127.0.0.1:0 --node stnode \
    --host-interfaces "$node/interfaces" --interfaces-out "$node/sdn" --frr-out "$node/frr.conf" \
    --frr-local "$node/frr.conf.local" --node-facts "$node/facts.json" \
    --reload-interfaces "" --reload-frr "" --apply-timeout 5 \
    --vtysh "$PWD/crates/sdnd/tests/frr-output/vtysh-replay" > "$work/out" 2> "$work/log" &
server=$!
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's|^sdnd listening on https://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/out" | head -1)
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/log" >&2; echo "error: sdnd did not start" >&2; exit 1; }
    sleep 0.05
done
[ -n "$port" ] || { echo "error: sdnd did not report its port" >&2; exit 1; }
base=https://127.0.0.1:$port
# The served document, without credentials, checked against the OpenAPI 3.1 specification.
curl -ksS --fail-with-body "$base/api2/openapi.json" > "$work/openapi.json"
.tools/venv/bin/python - "$work/openapi.json" <<'PY'
import sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
document, _ = read_from_filename(sys.argv[1])
assert document["openapi"].startswith("3.1"), document["openapi"]
validate(document)
print(f"openapi.json: valid OpenAPI {document['openapi']}, {len(document['paths'])} paths")
PY
token=$("$sdnd" token add root@pam fuzz --data-dir "$data" | tail -1)
auth="Authorization: PVEAPIToken=$token"

# Some objects of every kind, applied once, so that lists, reads and the pending view answer
# real shapes (schemathesis's random ids mostly miss).
call() {
    local method=$1 path=$2; shift 2
    local args=()
    for kv in "$@"; do args+=(--data-urlencode "$kv"); done
    if [ "$method" = GET ]; then args+=(-G); fi
    curl -ksS --fail-with-body -X "$method" -H "$auth" "${args[@]}" "$base/api2/json$path" > /dev/null
}
call POST /cluster/sdn/controllers controller=evpnctl type=evpn asn=65000 peers=10.0.0.1
call POST /cluster/sdn/ipams ipam=netbox1 type=netbox "url=$stand_in/netbox/api" token=secret
call POST /cluster/sdn/dns dns=pdns1 type=powerdns "url=$stand_in/api/v1/servers/localhost" key=secret
call POST /cluster/sdn/zones zone=simple1 type=simple
call POST /cluster/sdn/zones zone=evpn1 type=evpn controller=evpnctl vrf-vxlan=10000
call POST /cluster/sdn/vnets vnet=vnet1 zone=simple1
call POST /cluster/sdn/vnets/vnet1/subnets subnet=10.1.0.0/24 type=subnet gateway=10.1.0.1 \
    dhcp-range=start-address=10.1.0.10,end-address=10.1.0.20
call PUT /cluster/sdn
call POST /cluster/sdn/vnets vnet=vnet2 zone=evpn1 tag=20000
call PUT /cluster/sdn/zones/simple1 mtu=1400

start=$(date +%s)
status=0
# One worker: with two, Python 3.11.7 fails compiling in threads ("SystemError: AST constructor
# recursion depth mismatch"), and sdnd's answers are cheap anyway.
# From the temp dir: schemathesis keeps a crash cache (.schemathesis/) in its working directory.
repo=$(pwd)
(cd "$work" && "$repo/$st" --config-file "$repo/tests/schemathesis/schemathesis.toml" run "$base/api2/openapi.json" --tls-verify false -H "$auth" \
    --checks "$checks" \
    --max-examples "$examples" --seed "$seed" --workers 1 --request-timeout 20 \
    ${SCHEMATHESIS_PATHS:+--include-path-regex "$SCHEMATHESIS_PATHS"} \
    --generation-database none --no-color --warnings off) || status=$?
echo "schemathesis: $(( $(date +%s) - start )) s, exit $status"
if ! kill -0 "$server" 2>/dev/null; then
    echo "error: sdnd died during the run" >&2
    cat "$work/log" >&2
    status=1
elif grep -q "panicked" "$work/log"; then
    echo "error: sdnd panicked during the run" >&2
    grep -A5 "panicked" "$work/log" >&2
    status=1
fi
exit $status
