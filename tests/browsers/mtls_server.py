#!/usr/bin/env python3
"""HTTPS server on 127.0.0.1 that requires a client certificate and shows the subject it verified.

usage: mtls_server.py PORTFILE CERT KEY CAFILE

Binds a free port and writes it to PORTFILE. TLS 1.3 only, no session tickets and no session
cache use (num_tickets = 0: a TLS 1.3 server without tickets cannot resume), and every response
carries `Connection: close`, so every request is a new, full handshake in which the client signs
with its key again. Each request is logged on stdout as one line:

    VERIFIED path=/ subject='CN=...' issuer='CN=...' tls=TLSv1.3 resumed=False handshake_at=UNIXTIME

(`getpeercert()` returns only a certificate that verified against CAFILE). A handshake that fails
is logged as `HANDSHAKE-FAILED <reason>`, one that succeeds (the client signed) as
`HANDSHAKE subject='...' at=UNIXTIME`, whether or not a request follows. The TLS handshake runs in the request's thread, so a
browser waiting for its user's PIN blocks nobody else. A connection that sends no request within
IDLE seconds of its handshake is closed, as servers close idle keep-alive connections: a browser's
pre-connected socket (Chromium opens them ahead of navigation) cannot carry a request long after
its handshake, so `handshake_at` tells when the client last signed for that request.
"""
import html
import http.server
import os
import ssl
import sys
import time

portfile, cert, key, cafile = sys.argv[1:5]
IDLE = 3

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
CTX.minimum_version = ssl.TLSVersion.TLSv1_3
CTX.load_cert_chain(cert, key)
CTX.load_verify_locations(cafile)
CTX.verify_mode = ssl.CERT_REQUIRED
CTX.num_tickets = 0
CTX.options |= ssl.OP_NO_TICKET


def log(line):
    print(line, flush=True)


def name(n):
    return ",".join("=".join(x) for rdn in n for x in rdn)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.request.settimeout(180)  # the handshake waits for the user's PIN
        try:
            self.request = CTX.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"HANDSHAKE-FAILED {e}")
            raise
        self.handshake_at = time.time()
        subj = name(self.request.getpeercert()["subject"])
        log(f"HANDSHAKE subject='{subj}' at={self.handshake_at:.3f}")
        self.request.settimeout(IDLE)
        super().setup()

    def do_GET(self):
        c = self.connection.getpeercert()
        subj, iss = name(c["subject"]), name(c["issuer"])
        tls, resumed = self.connection.version(), self.connection.session_reused
        log(f"VERIFIED path={self.path} subject='{subj}' issuer='{iss}' tls={tls} resumed={resumed} "
            f"handshake_at={self.handshake_at:.3f}")
        if self.path == "/favicon.ico":
            body, status, ctype = b"", 404, "text/plain"
        else:
            status, ctype = 200, "text/html; charset=utf-8"
            body = (
                "<!doctype html><html><head><title>epass2003 browser test</title></head>"
                "<body style='font: 22px sans-serif; margin: 2em'>"
                "<h1>Client certificate verified</h1>"
                f"<p>Subject: <b id=subject>{html.escape(subj)}</b></p>"
                f"<p>Issuer: {html.escape(iss)}</p>"
                f"<p>{html.escape(tls)}, {html.escape(self.connection.cipher()[0])}, "
                f"session resumed: {resumed}</p>"
                f"<p>Path: {html.escape(self.path)}</p></body></html>"
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # already logged (HANDSHAKE-FAILED) or a client that went away


srv = Server(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
log(f"listening https://127.0.0.1:{srv.server_address[1]}/")
srv.serve_forever()
