"""PVE 9's fabrics and PVE 9.1's route maps and prefix lists through proxmoxer, unchanged:
every path, array properties as repeated parameters, the lock token, pending views, and the
refusals (400 naming the field, 409 for objects in use, 423 without the token, 403 without
privileges)."""

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from proxmoxer.tools import Tasks

from conftest import PASSWORD


def carol(server):
    return ProxmoxAPI("127.0.0.1", port=server.port, user="carol@pve", password=PASSWORD, verify_ssl=False)


def refused(status, call, *args, **kwargs):
    with pytest.raises(ResourceException) as err:
        call(*args, **kwargs)
    assert err.value.status_code == status, err.value
    return err.value


def apply(prox, **lt):
    status = Tasks.blocking_status(prox, prox.cluster.sdn.put(**lt), timeout=60, polling_interval=0.2)
    assert status["exitstatus"] == "OK", status


def test_fabrics_route_maps_and_prefix_lists(server):
    prox = carol(server)
    sdn = prox.cluster.sdn
    assert {"fabrics", "route-maps", "prefix-lists"} <= {e["id"] for e in sdn.get()}
    assert [e["subdir"] for e in sdn.fabrics.get()] == ["fabric", "node", "all"]

    token = sdn.lock.post(**{"allow-pending": 1})
    lt = {"lock-token": token}
    refused(423, sdn.fabrics.fabric.post, id="fpy", protocol="openfabric", ip_prefix="10.77.0.0/24")

    # Fabrics and their nodes.
    sdn.fabrics.fabric.post(id="fpy", protocol="openfabric", ip_prefix="10.77.0.0/24", hello_interval=2, **lt)
    sdn.fabrics.node("fpy").post(node_id="pynode", protocol="openfabric", ip="10.77.0.1", interfaces=["name=eth1", "name=eth2"], **lt)
    sdn.fabrics.node("fpy").post(node_id="other", protocol="openfabric", ip="10.77.0.2", interfaces="name=eth1", **lt)
    assert sdn.fabrics.fabric.get()[0]["id"] == "fpy"
    fabric = sdn.fabrics.fabric("fpy").get()
    assert fabric["protocol"] == "openfabric" and fabric["hello_interval"] == 2
    sdn.fabrics.fabric("fpy").put(protocol="openfabric", csnp_interval=5, digest=fabric["digest"], **lt)
    assert sdn.fabrics.node("fpy")("pynode").get()["interfaces"] == ["name=eth1", "name=eth2"]
    sdn.fabrics.node("fpy")("other").put(protocol="openfabric", interfaces=["name=eth3"], **lt)
    assert {n["node_id"] for n in sdn.fabrics.node.get()} == {"pynode", "other"}
    assert len(sdn.fabrics.node("fpy").get()) == 2
    everything = sdn.fabrics.all.get()
    assert len(everything["fabrics"]) == 1 and len(everything["nodes"]) == 2
    assert sdn.fabrics.fabric.get(pending=1)[0]["state"] == "new"
    err = refused(400, sdn.fabrics.fabric.post, id="fbg", protocol="bgp", **lt)
    assert "not supported" in str(err.errors or err.content)
    sdn.fabrics.node("fpy")("other").delete(**lt)

    # Prefix lists and their entries.
    sdn("prefix-lists").post(id="pypl", entries=["action=permit,prefix=10.0.0.0/8,le=24"], **lt)
    sdn("prefix-lists")("pypl").entries.post(action="deny", prefix="192.0.2.0/24", ge=25, le=26, **lt)
    assert [e["seq"] for e in sdn("prefix-lists")("pypl").entries.get()] == [5, 10]
    sdn("prefix-lists")("pypl").entries(10).put(seq=20, **lt)
    assert sdn("prefix-lists")("pypl").entries(20).get()["action"] == "deny"
    sdn("prefix-lists")("pypl").entries(20).delete(**lt)
    listed = sdn("prefix-lists").get()
    assert listed[0]["id"] == "pypl" and listed[0]["entries"] == ["action=permit,prefix=10.0.0.0/8,le=24,seq=5"]
    pl = sdn("prefix-lists")("pypl").get()
    sdn("prefix-lists")("pypl").put(entries=["action=permit,prefix=10.0.0.0/8,le=24,seq=5", "action=deny,prefix=0.0.0.0/0"], digest=pl["digest"], **lt)
    assert len(sdn("prefix-lists")("pypl").entries.get()) == 2

    # Route map entries; a controller using them.
    entries = sdn("route-maps").entries
    entries.post(**{"route-map-id": "pymap", "order": 10, "action": "permit",
                    "match": ["key=ip-address-prefix-list,value=pypl", "key=metric,value=5"],
                    "set": ["key=local-preference,value=200"], "exit-action": "key=on-match-next"}, **lt)
    entries.post(**{"route-map-id": "pymap", "order": 20, "action": "deny"}, **lt)
    assert sdn("route-maps").get() == [{"id": "pymap"}]
    assert [e["order"] for e in entries.get()] == [10, 20]
    assert [e["order"] for e in entries("pymap").get()] == [10, 20]
    entry = entries("pymap")(10).get()
    assert entry["match"] == ["key=ip-address-prefix-list,value=pypl", "key=metric,value=5"]
    entries("pymap")(20).put(action="permit", set=["key=weight,value=7"], **lt)
    entries("pymap")(10).put(delete="exit-action", **lt)
    assert "exit-action" not in entries("pymap")(10).get()
    err = refused(400, entries.post, **{"route-map-id": "pymap", "order": 30, "action": "permit", "match": "key=as-path,value=1"}, **lt)
    assert "match" in (err.errors or {}), err.content
    sdn.controllers.post(controller="pyctl", type="evpn", asn=65000, fabric="fpy", **{"route-map-in": "pymap", "peer-group-name": "pygroup"}, **lt)
    sdn.zones.post(zone="pyz", type="evpn", controller="pyctl", **{"vrf-vxlan": 7000}, **lt)
    refused(409, sdn("prefix-lists")("pypl").delete, **lt)
    apply(prox, **lt)
    assert sdn.lock.get()["locked"] == 0
    assert sdn("route-maps").get(running=1) == [{"id": "pymap"}]
    assert sdn.fabrics.all.get(running=1)["fabrics"][0]["id"] == "fpy"

    # Clean up, with the lock; entries in use go last.
    token = sdn.lock.post()
    lt = {"lock-token": token}
    sdn.zones("pyz").delete(**lt)
    entries("pymap")(20).delete(**lt)
    refused(409, entries("pymap")(10).delete, **lt)
    sdn.controllers("pyctl").delete(**lt)
    entries("pymap")(10).delete(**lt)
    sdn("prefix-lists")("pypl").delete(**lt)
    sdn.fabrics.node("fpy")("pynode").delete(**lt)
    sdn.fabrics.fabric("fpy").delete(**lt)
    apply(prox, **lt)
    assert sdn("route-maps").get(running=1) == []
    assert sdn("prefix-lists").get(running=1) == []
    assert sdn.fabrics.all.get(running=1) == {"fabrics": [], "nodes": []}


def test_routing_privileges(server):
    alice = ProxmoxAPI("127.0.0.1", port=server.port, user="alice@pve", password=PASSWORD, verify_ssl=False)
    sdn = alice.cluster.sdn  # PVESDNUser on /sdn: read only
    carol(server).cluster.sdn("prefix-lists").post(id="readonly")
    assert [p["id"] for p in sdn("prefix-lists").get()] == ["readonly"]
    refused(403, sdn("prefix-lists").post, id="mine")
    refused(403, sdn("prefix-lists")("readonly").entries.post, action="permit", prefix="10.0.0.0/8")
    refused(403, sdn("route-maps").entries.post, **{"route-map-id": "m", "order": 1, "action": "permit"})
    refused(403, sdn.fabrics.fabric.post, id="f9", protocol="openfabric", ip_prefix="10.9.0.0/24")
    carol(server).cluster.sdn("prefix-lists")("readonly").delete()
