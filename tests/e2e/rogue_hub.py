"""A rogue "hub" for the café-in-a-box test: answers mDNS for ``_kiosk-agent._tcp`` and the
hub's endpoints, serving whatever feed files lie in its folder (an old bundle under a new
name, or a bundle signed with another key). Run inside a namespace:
``python -m tests.e2e.rogue_hub FOLDER ADDRESS PORT``."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import sys

from kiosk_agent.hub.roles import API, SERVICE_TYPE


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        self.rfile.read(length)
        if self.path == API + "/heartbeat":
            body = json.dumps({"link": None, "pcs": 1}).encode()
        elif self.path == API + "/answers":
            body = json.dumps({"answers": {}}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> int:
    folder, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from zeroconf import ServiceInfo, Zeroconf

    zc = Zeroconf()
    info = ServiceInfo(
        SERVICE_TYPE,
        f"rogue.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(address)],
        port=port,
        server="rogue.local.",
    )
    zc.register_service(info)
    httpd = http.server.ThreadingHTTPServer(
        (address, port), functools.partial(Handler, directory=folder)
    )
    print("READY", flush=True)
    try:
        httpd.serve_forever()
    finally:
        zc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
