"""A WinRM HTTP listener's NTLM half, as Windows runs it by default
(`AllowUnencrypted = false`), in front of the test's WS-Management endpoint.

The NTLM acceptor is pyspnego's (the server half of NTLM, credentials from
`NTLM_USER_FILE`). Like Windows: authentication is per connection; a body
that is not sealed (MS-WSMV 2.2.9.1 `multipart/encrypted`) gets an HTTP 500
with an empty body, the Type 3 request included; a sealed request is
unsealed, passed on to the endpoint (with its own Basic login), and its
answer sealed back, framed as Windows frames it (the closing boundary right
after the payload). Prints its port, then one line per request on stderr.

Usage: python3 ntlm_acceptor.py BACKEND_PORT BACKEND_BASIC_AUTH
"""

import base64
import http.client
import http.server
import re
import struct
import sys

import spnego

BOUNDARY = b"--Encrypted Boundary"
SEALED_TYPE = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'


def unseal(context, body):
    """The SOAP message of a sealed body."""
    length = int(re.search(rb"Length=(\d+)", body).group(1))
    marker = b"application/octet-stream\r\n"
    start = body.index(marker) + len(marker)
    signature_length = struct.unpack("<I", body[start : start + 4])[0]
    signature = body[start + 4 : start + 4 + signature_length]
    end = start + 4 + signature_length + length
    # As pywinrm reads Windows' answers: the closing boundary right after.
    if body[end:] != BOUNDARY + b"--\r\n":
        raise ValueError(f"not framed as Windows frames it: {body[end:]!r}")
    return context.unwrap_winrm(signature, body[start + 4 + signature_length : end])


def seal(context, message):
    wrapped = context.wrap_winrm(message)
    return (
        BOUNDARY + b"\r\n"
        b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(message)).encode() + b"\r\n"
        + BOUNDARY + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<I", len(wrapped.header)) + wrapped.header + wrapped.data
        + BOUNDARY + b"--\r\n"
    )


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend = None
    backend_auth = None

    def setup(self):
        super().setup()
        self.context = None  # this connection's NTLM context
        self.backend_connection = None  # and its connection to the endpoint

    def log_message(self, format, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization", "")
        sealed = self.headers.get("Content-Type", "").startswith("multipart/encrypted")
        if authorization.startswith("Negotiate ") or authorization.startswith("NTLM "):
            token = base64.b64decode(authorization.split(" ", 1)[1])
            if token[8:9] == b"\x01":
                self.context = spnego.server(protocol="ntlm")
            try:
                out = self.context.step(token) if self.context else None
            except Exception as error:
                print(f"rejected: {error}", file=sys.stderr, flush=True)
                self.context = None
                return self.answer(401, headers=[("WWW-Authenticate", "Negotiate")])
            if not self.context.complete:
                challenge = "Negotiate " + base64.b64encode(out).decode()
                return self.answer(401, headers=[("WWW-Authenticate", challenge)])
            print("authenticated", file=sys.stderr, flush=True)
        if self.context is None or not self.context.complete:
            return self.answer(401, headers=[("WWW-Authenticate", "Negotiate")])
        if not body:
            return self.answer(200)
        if not sealed:
            print("refused: a body that is not sealed", file=sys.stderr, flush=True)
            return self.answer(500)
        try:
            message = unseal(self.context, body)
        except Exception as error:
            print(f"refused: {error}", file=sys.stderr, flush=True)
            return self.answer(400)
        if self.backend_connection is None:
            self.backend_connection = http.client.HTTPConnection("127.0.0.1", self.backend, timeout=30)
        backend = self.backend_connection
        backend.request(
            "POST",
            "/wsman",
            body=message,
            headers={"Content-Type": "application/soap+xml;charset=UTF-8", "Authorization": self.backend_auth},
        )
        reply = backend.getresponse()
        answer = reply.read()
        print("sealed exchange", file=sys.stderr, flush=True)
        self.answer(reply.status, seal(self.context, answer), headers=[("Content-Type", SEALED_TYPE)])


def main():
    Listener.backend = int(sys.argv[1])
    Listener.backend_auth = sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
