"""Every SDN endpoint and the lock / apply / rollback flow through proxmoxer, unchanged:
once with a ticket login and once with an API token; and the privilege refusals."""

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from proxmoxer.tools import Tasks

from conftest import PASSWORD


def by_ticket(server, user="carol@pve"):
    return ProxmoxAPI("127.0.0.1", port=server.port, user=user, password=PASSWORD, verify_ssl=False)


def by_token(server):
    full, secret = server.root_token.split("=", 1)
    user, name = full.split("!")
    return ProxmoxAPI("127.0.0.1", port=server.port, user=user, token_name=name, token_value=secret, verify_ssl=False)


def ids(items, key):
    return sorted(item[key] for item in items)


@pytest.fixture(params=["ticket", "token"])
def prox(request, server):
    return by_ticket(server) if request.param == "ticket" else by_token(server)


def refused(status, call, *args, **kwargs):
    with pytest.raises(ResourceException) as err:
        call(*args, **kwargs)
    assert err.value.status_code == status, err.value
    return err.value


def test_every_endpoint_and_the_whole_flow(server, prox, services):
    sdn = prox.cluster.sdn
    assert prox.version.get()["version"]
    assert {"zones", "vnets", "controllers", "ipams", "dns"} <= {e["id"] for e in sdn.get()}

    # Lock, then change with the token only.
    token = sdn.lock.post(**{"allow-pending": 1, "ttl": 600, "comment": "pytest"})
    status = sdn.lock.get()
    assert status["locked"] == 1 and status["comment"] == "pytest"
    assert token not in str(status)
    refused(423, sdn.zones.post, zone="zpy", type="simple")

    lt = {"lock-token": token}
    sdn.controllers.post(controller="evpnpy", type="evpn", asn=65000, peers="10.0.0.1,10.0.0.2", **lt)
    sdn.zones.post(zone="zpy", type="evpn", controller="evpnpy", **{"vrf-vxlan": 5000}, **lt)
    sdn.zones.post(zone="zvl", type="vlan", bridge="vmbr0", **lt)
    sdn.vnets.post(vnet="vpy", zone="zpy", tag=11000, **lt)
    sdn.vnets.post(vnet="vvl", zone="zvl", tag=42, **lt)
    sdn.vnets("vpy").subnets.post(subnet="10.42.0.0/24", gateway="10.42.0.1", type="subnet", **lt)
    # Each checked against its service before it is written: a loopback stand-in.
    sdn.ipams.post(ipam="nbpy", type="netbox", url=f"{services}/netbox/api", token="t", **lt)
    sdn.dns.post(dns="pdnspy", type="powerdns", url=f"{services}/api/v1/servers/localhost", key="k", **lt)

    assert "zpy" in ids(sdn.zones.get(), "zone")
    assert ids(sdn.zones.get(type="vlan"), "zone") == ["zvl"]
    pending = {z["zone"]: z for z in sdn.zones.get(pending=1)}
    assert pending["zpy"]["state"] == "new"
    assert sdn.vnets("vpy").get()["tag"] == 11000
    subnet = sdn.vnets("vpy").subnets("zpy-10.42.0.0-24").get()
    assert subnet["gateway"] == "10.42.0.1"
    sdn.vnets("vpy").subnets("zpy-10.42.0.0-24").put(gateway="10.42.0.254", **lt)
    digest = sdn.vnets("vvl").get()["digest"]
    sdn.vnets("vvl").put(alias="vlan forty-two", digest=digest, **lt)
    refused(409, sdn.vnets("vvl").put, alias="stale", digest="0" * 40, **lt)
    err = refused(400, sdn.vnets.post, vnet="x", zone="zvl", **lt)
    assert "vnet" in (err.errors or {}) or "vnet" in str(err.content)
    assert sdn.ipams("nbpy").get()["type"] == "netbox"
    assert sdn.dns("pdnspy").get()["type"] == "powerdns"
    assert sdn.controllers("evpnpy").get()["asn"] == 65000
    dry = sdn("dry-run").get(node="pynode")
    assert "vpy" in (dry["interfaces-diff"] or "")

    # Apply and release; follow the task with proxmoxer's own helper.
    upid = sdn.put(**lt)
    status = Tasks.blocking_status(prox, upid, timeout=60, polling_interval=0.2)
    assert status["status"] == "stopped" and status["exitstatus"] == "OK", status
    log = prox.nodes("pynode").tasks(upid).log.get()
    assert any("pynode" in line["t"] for line in log)
    assert sdn.lock.get()["locked"] == 0
    assert "zpy" in ids(sdn.zones.get(running=1), "zone")
    assert {"name": "zones"} in prox.nodes("pynode").sdn.get(), "PVE's index"
    assert prox.nodes("pynode").sdn.status.get()["status"] == "available"
    node_zones = {z["zone"]: z["status"] for z in prox.nodes("pynode").sdn.zones.get()}
    assert node_zones["zpy"] == "available", node_zones
    content = prox.nodes("pynode").sdn.zones("zpy").content.get()
    assert {"vnet": "vpy", "status": "available"} in content, content
    resources = prox.cluster.resources.get()
    assert any(r["id"] == "network/pynode/zone/zpy" and r["status"] == "available" for r in resources), resources
    assert any(r["id"] == "sdn/pynode/zpy" for r in prox.cluster.resources.get(type="sdn"))

    # A stale token is refused; roll back a change; clean up.
    refused(423, sdn.zones.post, zone="zstale", type="simple", **lt)
    token = sdn.lock.post()
    lt = {"lock-token": token}
    sdn.vnets("vvl").delete(**lt)
    assert sdn.vnets.get(pending=1)[-1]["state"] == "deleted"
    sdn.rollback.post(**lt)
    assert "vvl" in ids(sdn.vnets.get(), "vnet")
    assert sdn.lock.get()["locked"] == 0

    token = sdn.lock.post()
    lt = {"lock-token": token}
    sdn.vnets("vpy").subnets("zpy-10.42.0.0-24").delete(**lt)
    for vnet in ["vpy", "vvl"]:
        sdn.vnets(vnet).delete(**lt)
    for zone in ["zpy", "zvl"]:
        sdn.zones(zone).delete(**lt)
    sdn.controllers("evpnpy").delete(**lt)
    sdn.ipams("nbpy").delete(**lt)
    sdn.dns("pdnspy").delete(**lt)
    Tasks.blocking_status(prox, sdn.put(**lt), timeout=60, polling_interval=0.2)
    assert sdn.lock.get()["locked"] == 0
    assert sdn.zones.get(running=1) == []


def test_privilege_refusals(server):
    alice = by_ticket(server, "alice@pve")  # PVESDNUser on /sdn: read only
    bob = by_ticket(server, "bob@pve")  # PVESDNAdmin on /sdn/zones/zbob only
    carol = by_ticket(server)
    carol.cluster.sdn.zones.post(zone="zbob", type="simple")
    carol.cluster.sdn.zones.post(zone="zother", type="simple")

    assert "zother" in ids(alice.cluster.sdn.zones.get(), "zone")
    refused(403, alice.cluster.sdn.zones.post, zone="zalice", type="simple")
    refused(403, alice.cluster.sdn.lock.post)
    refused(403, alice.cluster.sdn.put)

    assert ids(bob.cluster.sdn.zones.get(), "zone") == ["zbob"]
    bob.cluster.sdn.vnets.post(vnet="vbob", zone="zbob")
    refused(403, bob.cluster.sdn.vnets.post, vnet="vbob2", zone="zother")
    refused(403, bob.cluster.sdn.zones("zother").get)
    refused(403, bob.cluster.sdn.lock.post)

    with pytest.raises(Exception):
        ProxmoxAPI("127.0.0.1", port=server.port, user="carol@pve", password="wrong", verify_ssl=False)

    carol.cluster.sdn.vnets("vbob").delete()
    for zone in ["zbob", "zother"]:
        carol.cluster.sdn.zones(zone).delete()
