"""A test runtime behind the session bridge: it calls out through the bridge's egress ports.

Standard library only; runs inside a sandbox on 127.0.0.1:CALLOUT_PORT and answers:
  GET  /health  {"status": "ok"}
  POST /call    {"port", "path", "body"}: POST body to 127.0.0.1:port/path (an egress port of
                the bridge) and answer {"status", "body"} of what came back
  POST /proxy   {"url"}: GET url through the forward proxy on 127.0.0.1:PROXY_PORT
"""

import http.client
import json
import os
import socketserver
from http.server import BaseHTTPRequestHandler

PORT = int(os.environ["CALLOUT_PORT"])
PROXY_PORT = int(os.environ.get("CALLOUT_PROXY_PORT", "0"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.answer({"status": "ok", "headers": sorted(k.lower() for k in self.headers)})

    def do_POST(self) -> None:
        asked = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if self.path == "/call":
            conn = http.client.HTTPConnection("127.0.0.1", int(asked["port"]), timeout=10)
            conn.request(
                "POST",
                asked["path"],
                body=json.dumps(asked.get("body") or {}),
                headers={"Content-Type": "application/json", "Authorization": "Bearer sandbox"},
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=10)
            conn.request("GET", asked["url"])
        response = conn.getresponse()
        self.answer({"status": response.status, "body": response.read().decode(errors="replace")})


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", PORT), Handler).serve_forever()
