#!/usr/bin/env python3
"""scripts/deploy.sh against a fake Mattermost: an HTTP server on loopback (a free port) and
one on a unix socket, recording every request. It proves the request shapes (method, path,
Bearer token, the multipart `plugin` and `force` fields, the enable call) and the error
reporting; whether a real server accepts the bundle is a test against a real server.

    python3 tests/deploy/test_deploy.py        (standard library only; needs curl)
"""

import email.parser
import email.policy
import http.server
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import unittest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "deploy.sh")
TOKEN = "tok-3f9a1c77e2"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers like Mattermost (or with `fail`: status + JSON error) and records requests."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append(
            {"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body}
        )
        if self.server.fail:
            status, answer = self.server.fail
        elif self.path == "/api/v4/plugins":
            status, answer = 201, {"id": "datasync", "version": "0.1.0"}
        else:
            status, answer = 200, {"status": "OK"}
        out = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def address_string(self):
        return "test"

    def log_message(self, *args):
        pass


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(server):
    server.requests = []
    server.fail = None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def multipart(request):
    """The form fields of a multipart/form-data request: name → (filename, bytes)."""
    head = f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request["body"])
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in msg.iter_parts()
    }


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.bundle = os.path.join(cls.tmp.name, "datasync-0.1.0.tar.gz")
        with open(cls.bundle, "wb") as f:
            f.write(b"\x1f\x8b fake bundle \x00\xff" * 100)
        cls.tcp = serve(TCPServer(("127.0.0.1", 0), Recorder))
        cls.sock = os.path.join(cls.tmp.name, "mattermost_local.socket")
        cls.unix = serve(UnixServer(cls.sock, Recorder))

    @classmethod
    def tearDownClass(cls):
        for s in (cls.tcp, cls.unix):
            s.shutdown()
            s.server_close()
        cls.tmp.cleanup()

    def setUp(self):
        for s in (self.tcp, self.unix):
            s.requests.clear()
            s.fail = None

    def deploy(self, **env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MM_")}
        clean.update(env)
        return subprocess.run(
            ["bash", SCRIPT, self.bundle], env=clean, capture_output=True, text=True, timeout=60
        )

    def site(self):
        return {
            "MM_SERVICESETTINGS_SITEURL": f"http://127.0.0.1:{self.tcp.server_address[1]}/",
            "MM_ADMIN_TOKEN": TOKEN,
        }

    def check_calls(self, requests, auth):
        self.assertEqual(
            [(r["method"], r["path"]) for r in requests],
            [("POST", "/api/v4/plugins"), ("POST", "/api/v4/plugins/datasync/enable")],
        )
        for r in requests:
            self.assertEqual(r["headers"].get("Authorization"), auth)
        upload = requests[0]
        self.assertTrue(upload["headers"]["Content-Type"].startswith("multipart/form-data; boundary="))
        fields = multipart(upload)
        with open(self.bundle, "rb") as f:
            self.assertEqual(fields["plugin"], ("datasync-0.1.0.tar.gz", f.read()))
        self.assertEqual(fields["force"], (None, b"true"))
        self.assertEqual(set(fields), {"plugin", "force"})

    def test_site_url_and_token(self):
        r = self.deploy(**self.site())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_calls(self.tcp.requests, f"Bearer {TOKEN}")
        self.assertIn("datasync is installed and enabled", r.stdout)
        self.assertNotIn(TOKEN, r.stdout + r.stderr)

    def test_local_socket_needs_no_token(self):
        r = self.deploy(MM_LOCALSOCKETPATH=self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_calls(self.unix.requests, None)
        self.assertEqual(self.tcp.requests, [])

    def test_server_error_is_shown(self):
        self.tcp.fail = (400, {"id": "app.plugin.extract.app_error", "message": "Unable to extract plugin file.",
                               "status_code": 400})
        r = self.deploy(**self.site())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("upload failed: HTTP 400", r.stderr)
        self.assertIn("Unable to extract plugin file.", r.stderr)
        self.assertNotIn(TOKEN, r.stdout + r.stderr)
        self.assertEqual(len(self.tcp.requests), 1, "nothing is enabled after a failed upload")

    def test_uploads_disabled_hint(self):
        self.unix.fail = (501, {"message": "Plugins and/or plugin uploads have been disabled."})
        r = self.deploy(MM_LOCALSOCKETPATH=self.sock)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("uploads have been disabled", r.stderr)
        self.assertIn("PluginSettings.EnableUploads", r.stderr)

    def test_missing_variables_are_named(self):
        r = self.deploy(MM_SERVICESETTINGS_SITEURL="http://127.0.0.1:9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("MM_ADMIN_TOKEN not set", r.stderr)
        r = self.deploy()
        self.assertIn("MM_SERVICESETTINGS_SITEURL MM_ADMIN_TOKEN not set", r.stderr)
        self.assertIn("MM_LOCALSOCKETPATH", r.stderr)
        r = self.deploy(MM_LOCALSOCKETPATH=os.path.join(self.tmp.name, "nothing"))
        self.assertIn("is not a socket", r.stderr)
        self.assertEqual(self.tcp.requests + self.unix.requests, [])

    def test_unreachable_server(self):
        r = self.deploy(MM_SERVICESETTINGS_SITEURL="http://127.0.0.1:9", MM_ADMIN_TOKEN=TOKEN)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("upload: could not reach http://127.0.0.1:9", r.stderr)
        self.assertNotIn(TOKEN, r.stdout + r.stderr)


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
