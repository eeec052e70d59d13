#!/usr/bin/env bash
# Builds the seed corpora (fuzz/seeds/TARGET/) from the generation cases: the shared corpus
# (../shared/corpus/pve-zones beside the checkout) and crates/sdn-gen/tests/reference-cases.
# Each case gives its running config, facts, interfaces and frr.conf.local; the section-config,
# change-set and request seeds are derived from the running configs. Nothing here is committed:
# run it again whenever the cases change.
set -euo pipefail
cd "$(dirname "$0")/.."

cases=()
for root in ../shared/corpus/pve-zones crates/sdn-gen/tests/reference-cases; do
    if [ ! -d "$root" ]; then
        echo "error: $root is missing (the shared corpus must sit beside this checkout)" >&2
        exit 1
    fi
    while IFS= read -r file; do cases+=("$(dirname "$file")"); done \
        < <(find "$root" -name running-config.json | sort)
done

rm -rf fuzz/seeds
exec python3 - fuzz/seeds "${cases[@]}" <<'PY'
import json, os, sys, urllib.parse

out, cases = sys.argv[1], sys.argv[2:]

def write(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def read(path):
    with open(path, "rb") as f:
        return f.read()

def text(value):
    """A running-config value as a section-config/form value: node maps become lists."""
    if isinstance(value, dict):
        return ",".join(value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)

KINDS = ["zones", "vnets", "subnets", "controllers", "ipams", "dns"]
ID_PARAM = {"zones": "zone", "vnets": "vnet", "subnets": "subnet", "controllers": "controller"}

for case in cases:
    name = os.path.relpath(case, os.path.dirname(os.path.dirname(case))).replace("/", "_")
    if case.startswith("crates/"):
        name = "ref_" + name
    running = read(os.path.join(case, "running-config.json"))
    facts = read(os.path.join(case, "facts.json"))
    interfaces = read(os.path.join(case, "interfaces"))
    local_path = os.path.join(case, "frr.conf.local")
    local = read(local_path) if os.path.exists(local_path) else None

    write("running_config", name, running)
    write("node_facts", name, facts)
    write("host_files", name, interfaces + (b"\0" + local if local is not None else b""))
    write("generate", name, b"\0".join([running, facts, interfaces] + ([local] if local is not None else [])))

    config = json.loads(running)
    steps = []
    for index, kind in enumerate(KINDS):
        objects = (config.get(kind) or {}).get("ids") or {}
        if not objects:
            continue
        section = ""
        for oid, props in objects.items():
            section += f"{props.get('type', 'vnet' if kind == 'vnets' else 'subnet')}: {oid}\n"
            params = {ID_PARAM[kind]: oid}
            for key, value in props.items():
                if key == "type":
                    params[key] = value
                    continue
                values = value if key == "dhcp-range" and isinstance(value, list) else [value]
                for v in values:
                    section += f"\t{key} {text(v)}\n"
                params[key] = text(value)
            section += "\n"
            if kind == "subnets":
                addr, prefix = oid.split("-", 1)[1].rsplit("-", 1)
                params["subnet"] = f"{addr}/{prefix}"
                path = f"/cluster/sdn/vnets/{props.get('vnet')}/subnets"
            else:
                path = f"/cluster/sdn/{kind}"
            steps.append({"create": path, "params": params})
            form, body = urllib.parse.urlencode(params).encode(), json.dumps(params).encode()
            write("params", f"{name}_{kind}_{oid}_form", b"\0\0" + form)
            write("params", f"{name}_{kind}_{oid}_json", b"\1\0" + body)
            # api_change: the first byte is kind << 3 | operation << 1 | JSON body.
            for op, what in [(0, "create"), (2, "update")]:
                write("api_change", f"{name}_{kind}_{oid}_{what}", bytes([index << 3 | op << 1 | 1]) + b"\0" + body)
            delete = {ID_PARAM[kind]: params["subnet"] if kind == "subnets" else oid}
            if kind == "subnets":
                delete["vnet"] = props.get("vnet")
            write("api_change", f"{name}_{kind}_{oid}_delete", bytes([index << 3 | 3 << 1]) + urllib.parse.urlencode(delete).encode())
        write("section_config", f"{name}_{kind}", bytes([index]) + section.encode())
    if steps:
        yaml = "".join(
            f"- create: {s['create']}\n  params: {json.dumps(s['params'])}\n" for s in steps
        )
        write("changeset", f"{name}_yaml", b"\0" + yaml.encode())
        write("changeset", f"{name}_json", b"\1" + json.dumps(steps).encode())

# Kinds the running configs do not carry, and the documented examples of the sdnctl files.
write("section_config", "ipams", b"\4pve: pve\n\nnetbox: nb\n\ttoken abc\n\turl https://netbox.example/api\n\n"
      b"phpipam: php\n\tsection 1\n\ttoken t\n\turl https://php.example/api\n\tfingerprint "
      + b":".join([b"AB"] * 32) + b"\n\n")
write("section_config", "dns", b"\5powerdns: pdns\n\tkey secret\n\turl http://127.0.0.1:8081/api/v1/servers/localhost\n"
      b"\tttl 3600\n\treversemaskv6 64\n\n")
write("section_config", "subnets_dhcp", b"\2subnet: z1-10.0.0.0-24\n\tvnet v1\n\tgateway 10.0.0.1\n"
      b"\tdhcp-range start-address=10.0.0.10,end-address=10.0.0.20\n"
      b"\tdhcp-range start-address=10.0.0.30,end-address=10.0.0.40\n\tsnat 1\n\n"
      b"subnet: z1-fd00::-64\n\tvnet v1\n\tgateway fd00::1\n\n")
write("changeset", "doc_yaml", b"\0- create: /cluster/sdn/zones\n  params: {zone: evpn1, type: evpn, controller: ctl, vrf-vxlan: 10000}\n"
      b"- set: /cluster/sdn/vnets/v100\n  params: {alias: \"web tier\", delete: [isolate-ports]}\n"
      b"- create: /cluster/sdn/vnets/v100/subnets\n  params:\n    subnet: 10.0.0.0/24\n    dhcp-range:\n"
      b"      - {start-address: 10.0.0.10, end-address: 10.0.0.20}\n"
      b"- delete: /cluster/sdn/vnets/v99\n")
write("remotes", "doc", b'default = "pve-a"\n[remotes.pve-a]\nurl = "https://10.0.0.1:8006"\n'
      b'token = "root@pam!sdnctl=5f0c1e2d-0000-4000-8000-000000000000"\nfingerprint = "'
      + b":".join([b"AB"] * 32) + b'"\nnodes = ["pve1", "pve2"]\n\n[remotes.lab]\n'
      b'url = "https://lab.example:8006/"\ntoken = "sdn@pve!t=s"\ninsecure = true\n')
write("params", "args_form", b"\2allow-pending=0&ttl=30\0delete=a&delete=b&lock-token=abc%20def")
write("params", "args_json", b'\3ttl=30\0{"allow-pending":true,"release-lock":"1","digest":"x","delete":["a","b"]}')
# Updates of the IPAMs and DNS servers the api_change target's configuration has.
write("api_change", "ipam_update", b"\x25\0" + json.dumps({"ipam": "netbox", "url": "https://nb2.example/api", "fingerprint": ":".join(["AB"] * 32)}).encode())
write("api_change", "ipam_create", b"\x20ipam=php&type=phpipam&section=3&token=t&url=https%3A%2F%2Fphp.example")
write("api_change", "dns_update", b"\x2d\0" + json.dumps({"dns": "pdns", "ttl": 60, "reversemaskv6": 64, "delete": "fingerprint"}).encode())
PY
