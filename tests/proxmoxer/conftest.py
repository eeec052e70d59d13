"""A real sdnd on an ephemeral loopback port, with users, tokens and ACLs made by its admin CLI."""

import os
import re
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SDND = os.environ.get("SDND_BIN", str(REPO / "target" / "debug" / "sdnd"))
PASSWORD = "correct horse battery"


def admin(data_dir, *args, stdin=None):
    done = subprocess.run(
        [SDND, *args, "--data-dir", data_dir], input=stdin, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"sdnd {' '.join(args)}: {done.stderr}"
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


class Server:
    def __init__(self):
        if not os.path.exists(SDND):
            raise RuntimeError(f"{SDND} is missing: build it first with 'cargo build -p sdnd'")
        self.dir = tempfile.TemporaryDirectory()
        self.data = self.dir.name
        node = Path(self.data, "node")
        node.mkdir()
        (node / "facts.json").write_text(
            '{"node":"pynode","route-iface":"vmbr0","route-ip":"192.168.0.1",'
            '"mac":"bc:24:11:1d:69:60","bridge-ports":{"vmbr0":["eth0"]}}'
        )
        (node / "interfaces").write_text("auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eth0\n")
        self.proc = subprocess.Popen(
            [
                SDND, "serve", "--data-dir", self.data, "--listen", "127.0.0.1:0", "--node", "pynode",
                "--host-interfaces", str(node / "interfaces"), "--interfaces-out", str(node / "sdn"),
                "--frr-out", str(node / "frr.conf"), "--frr-local", str(node / "frr.conf.local"),
                "--node-facts", str(node / "facts.json"), "--reload-interfaces", "", "--reload-frr", "",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "SDND_LOG": "warn"},
        )
        self.port = None
        for line in self.proc.stdout:
            match = re.match(r"sdnd listening on https://127\.0\.0\.1:(\d+)/", line)
            if match:
                self.port = int(match.group(1))
                break
        assert self.port, "sdnd did not report its port"
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    d = srv.data
    admin(d, "user", "add", "carol@pve", "--password-stdin", stdin=PASSWORD)
    admin(d, "acl", "modify", "/", "--users", "carol@pve", "--roles", "Administrator")
    admin(d, "user", "add", "alice@pve", "--password-stdin", stdin=PASSWORD)
    admin(d, "acl", "modify", "/sdn", "--users", "alice@pve", "--roles", "PVESDNUser")
    admin(d, "user", "add", "bob@pve", "--password-stdin", stdin=PASSWORD)
    admin(d, "acl", "modify", "/sdn/zones/zbob", "--users", "bob@pve", "--roles", "PVESDNAdmin")
    srv.root_token = admin(d, "token", "add", "root@pam", "pytest")
    yield srv
    srv.stop()


class _ServiceCheck(BaseHTTPRequestHandler):
    """Answers the check sdnd makes before a NetBox IPAM or a PowerDNS server is written (the
    reference's on_update_hook): NetBox's GET .../ipam/aggregates/, PowerDNS's GET of its url."""

    def do_GET(self):
        if self.path.endswith("/ipam/aggregates/"):
            body = b'{"count":0,"next":null,"previous":null,"results":[]}'
        elif self.path.rstrip("/").rsplit("/", 2)[-2:-1] == ["servers"]:
            body = b'{"type":"Server","id":"localhost","daemon_type":"authoritative"}'
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def services():
    """The base url of a loopback stand-in for NetBox and PowerDNS."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ServiceCheck)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
