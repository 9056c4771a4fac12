#!/usr/bin/env python3
"""A small in-memory Kubernetes API server for the AOT training run of the image.

scripts/build-aot-cache.sh starts it on 127.0.0.1 (HTTPS, a throw-away self-signed certificate)
and runs the image's own JVM against it as an in-cluster replica, so that the training run takes
the production code path (service-account token, TLS, Lease GET/POST/PUT, the informer's LIST and
WebSocket WATCH, Events) without a real control plane, offline and in CI.

What it serves: POST selfsubjectaccessreviews (always allowed), and for any namespaced resource
under /api/v1 and /apis/<group>/<version>:
  GET item, GET list (fieldSelector=metadata.name=<n> honoured), GET ?watch=true (WebSocket when
  the client asks for an upgrade, else a chunked HTTP stream), POST (409 if it exists), PUT
  (409 on a stale metadata.resourceVersion), PATCH (JSON merge patch), DELETE.
Every write bumps a global resourceVersion and is sent to the open watches.

--holder NAME simulates another replica leading --lease: it creates the Lease held by NAME,
renews it every --renew-interval seconds for --hold seconds, then releases it (holderIdentity
cleared), which is how a graceful handover looks to a follower. The training replica so goes
through the follower path first, then takes over and leads.

On SIGTERM/SIGINT it prints, on stdout, one JSON line of request counts by "VERB resource", so
the caller can check that the training really talked to it. Standard library only.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import signal
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                  r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
KINDS = {"leases": "Lease", "events": "Event", "pods": "Pod", "configmaps": "ConfigMap"}


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 100
        self.objects = {}          # (api, ns, plural, name) -> object
        self.events = []           # (rv, key, type, object)
        self.counts = {}

    def count(self, verb, plural):
        with self.lock:
            key = f"{verb} {plural}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def write(self, key, obj, kind):
        with self.lock:
            self.rv += 1
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
            if kind == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = obj
            self.events.append((self.rv, key, kind, json.loads(json.dumps(obj))))
            self.lock.notify_all()
            return obj


STORE = Store()
STOP = threading.Event()
FIRST_LEASE_REQUEST = threading.Event()
VERBOSE = False


def merge(target, patch):
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge(result.get(k), v)
    return result


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aot-train-apiserver"

    def log_message(self, fmt, *args):  # quiet unless --verbose: the counts are printed at the end
        if VERBOSE:
            sys.stderr.write("aot-train-apiserver: %s\n" % (fmt % args))

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}") if n else {}

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        m = PATH.match(url.path)
        if not m:
            return None, None, query, url.path
        api = "v1" if m.group("core") else f"{m.group('group')}/{m.group('version')}"
        return (api, m.group("ns"), m.group("plural"), m.group("name")), m, query, url.path

    def authorized(self):
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self.send_json(401, status(401, "Unauthorized", "no bearer token"))
            return False
        return True

    # --- verbs -----------------------------------------------------------------------------------

    def do_GET(self):
        key, m, query, path = self.route()
        if path in ("/version", "/healthz", "/livez", "/readyz"):
            self.send_json(200, {"major": "1", "minor": "36", "gitVersion": "v1.36.0-aot-train"})
            return
        if key is None:
            self.send_json(404, status(404, "NotFound", f"{path} not found"))
            return
        if not self.authorized():
            return
        api, ns, plural, name = key
        if plural == "leases":
            FIRST_LEASE_REQUEST.set()
        if name:
            STORE.count("GET", plural)
            with STORE.lock:
                obj = STORE.objects.get(key)
            if obj is None:
                self.send_json(404, status(404, "NotFound", f'{plural} "{name}" not found'))
            else:
                self.send_json(200, obj)
            return
        selected = None
        selector = query.get("fieldSelector", "")
        if selector.startswith("metadata.name="):
            selected = selector[len("metadata.name="):]
        if query.get("watch") in ("true", "1"):
            STORE.count("WATCH", plural)
            self.watch(api, ns, plural, selected, int(query.get("resourceVersion") or 0))
            return
        STORE.count("LIST", plural)
        with STORE.lock:
            items = [o for (a, n, p, nm), o in STORE.objects.items()
                     if a == api and n == ns and p == plural and selected in (None, nm)]
            rv = str(STORE.rv)
        self.send_json(200, {"kind": KINDS.get(plural, "Object") + "List", "apiVersion": api,
                             "metadata": {"resourceVersion": rv}, "items": items})

    def do_POST(self):
        key, m, _, path = self.route()
        if path.endswith("/selfsubjectaccessreviews"):
            # Everything is allowed: the training replica has the permissions of the real one.
            if not self.authorized():
                return
            STORE.count("POST", "selfsubjectaccessreviews")
            review = self.read_body()
            review["status"] = {"allowed": True, "reason": "aot-train-apiserver allows all"}
            self.send_json(201, review)
            return
        if key is None or key[3] is not None:
            self.send_json(404, status(404, "NotFound", f"{path} not found"))
            return
        if not self.authorized():
            return
        api, ns, plural, _ = key
        STORE.count("POST", plural)
        obj = self.read_body()
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        full = (api, ns, plural, meta.get("name"))
        with STORE.lock:
            if full in STORE.objects:
                self.send_json(409, status(409, "AlreadyExists", f'{plural} "{full[3]}" already exists'))
                return
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=now_micro()[:19] + "Z")
            STORE.write(full, obj, "ADDED")
        self.send_json(201, obj)

    def do_PUT(self):
        key, m, _, path = self.route()
        if key is None or key[3] is None:
            self.send_json(404, status(404, "NotFound", f"{path} not found"))
            return
        if not self.authorized():
            return
        STORE.count("PUT", key[2])
        obj = self.read_body()
        with STORE.lock:
            current = STORE.objects.get(key)
            if current is None:
                self.send_json(404, status(404, "NotFound", f'{key[2]} "{key[3]}" not found'))
                return
            sent = obj.get("metadata", {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                self.send_json(409, status(409, "Conflict", "the object has been modified"))
                return
            for field in ("uid", "creationTimestamp", "namespace"):
                obj["metadata"][field] = current["metadata"].get(field)
            STORE.write(key, obj, "MODIFIED")
        self.send_json(200, obj)

    def do_PATCH(self):
        key, m, _, path = self.route()
        if key is None or key[3] is None:
            self.send_json(404, status(404, "NotFound", f"{path} not found"))
            return
        if not self.authorized():
            return
        STORE.count("PATCH", key[2])
        patch = self.read_body()
        with STORE.lock:
            current = STORE.objects.get(key)
            if current is None:
                self.send_json(404, status(404, "NotFound", f'{key[2]} "{key[3]}" not found'))
                return
            if not isinstance(patch, dict):
                self.send_json(415, status(415, "UnsupportedMediaType", "merge patches only"))
                return
            obj = STORE.write(key, merge(current, patch), "MODIFIED")
        self.send_json(200, obj)

    def do_DELETE(self):
        key, m, _, path = self.route()
        if key is None or key[3] is None:
            self.send_json(404, status(404, "NotFound", f"{path} not found"))
            return
        if not self.authorized():
            return
        STORE.count("DELETE", key[2])
        with STORE.lock:
            current = STORE.objects.get(key)
            if current is None:
                self.send_json(404, status(404, "NotFound", f'{key[2]} "{key[3]}" not found'))
                return
            STORE.write(key, current, "DELETED")
        self.send_json(200, status(200, "", "deleted") | {"status": "Success"})

    # --- watch -----------------------------------------------------------------------------------

    def watch(self, api, ns, plural, name, since):
        websocket = self.headers.get("Upgrade", "").lower() == "websocket"
        if websocket:
            accept = base64.b64encode(hashlib.sha1(
                (self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            threading.Thread(target=self.drain_frames, daemon=True).start()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        self.close_connection = True
        seen = since
        try:
            while not STOP.is_set():
                with STORE.lock:
                    pending = [e for e in STORE.events if e[0] > seen
                               and e[1][:3] == (api, ns, plural) and name in (None, e[1][3])]
                    if not pending:
                        STORE.lock.wait(0.5)
                        continue
                for rv, _, kind, obj in pending:
                    seen = rv
                    line = json.dumps({"type": kind, "object": obj}).encode()
                    if websocket:
                        self.send_frame(line)
                    else:
                        self.wfile.write(b"%x\r\n%s\n\r\n" % (len(line) + 1, line))
                    self.wfile.flush()
        except (OSError, ValueError):
            return

    def send_frame(self, payload, opcode=0x1):
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.wfile.write(header + payload)

    def drain_frames(self):
        """Reads the client's frames (pings, close) so its writes never block."""
        try:
            while True:
                head = self.rfile.read(2)
                if len(head) < 2:
                    return
                opcode, n = head[0] & 0x0F, head[1] & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self.rfile.read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self.rfile.read(8))[0]
                mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
                if opcode == 0x8:
                    return
                if opcode == 0x9:
                    self.send_frame(data, opcode=0xA)
                    self.wfile.flush()
        except (OSError, ValueError):
            return


def simulate_holder(namespace, lease, holder, hold, interval):
    """Another replica leading the Lease for `hold` seconds, then releasing it."""
    key = ("coordination.k8s.io/v1", namespace, "leases", lease)
    record = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
              "metadata": {"name": lease, "namespace": namespace, "uid": str(uuid.uuid4()),
                           "creationTimestamp": now_micro()[:19] + "Z"},
              "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                       "acquireTime": now_micro(), "renewTime": now_micro(),
                       "leaseTransitions": 0}}
    STORE.write(key, record, "ADDED")
    FIRST_LEASE_REQUEST.wait()
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline and not STOP.is_set():
        time.sleep(interval)
        with STORE.lock:
            current = json.loads(json.dumps(STORE.objects[key]))
            if current["spec"].get("holderIdentity") != holder:
                return
            current["spec"]["renewTime"] = now_micro()
            STORE.write(key, current, "MODIFIED")
    with STORE.lock:
        current = json.loads(json.dumps(STORE.objects[key]))
        current["spec"].update(holderIdentity="", leaseDurationSeconds=1,
                               renewTime=now_micro(), acquireTime=now_micro())
        STORE.write(key, current, "MODIFIED")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port-file", required=True, help="where to write the port once listening")
    p.add_argument("--namespace", default="default")
    p.add_argument("--lease", default="my-lease")
    p.add_argument("--holder", help="simulate another replica holding the Lease first")
    p.add_argument("--hold", type=float, default=3.0,
                   help="seconds it holds, from the first Lease request, before releasing")
    p.add_argument("--renew-interval", type=float, default=0.5)
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = p.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["http/1.1"])
    server.socket = context.wrap_socket(server.socket, server_side=True)

    def stop(*_):
        STOP.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.holder:
        threading.Thread(target=simulate_holder, daemon=True,
                         args=(args.namespace, args.lease, args.holder, args.hold,
                               args.renew_interval)).start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever(poll_interval=0.2)
    print(json.dumps(STORE.counts, sort_keys=True), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
