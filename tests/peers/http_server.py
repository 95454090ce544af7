#!/usr/bin/env python3
"""A small HTTP(S) server on 127.0.0.1 for red's connector tests (standard library only).

Started by the tests on a free port (`--port 0`); prints `PORT <n>` on stdout once it listens.
Every request is appended to `<root>/requests.log` as `METHOD PATH RANGE IF-RANGE` (`-` for a
header that is absent), so tests can see what a client asked for. Files carry a strong ETag.
Paths:

  /files/<path>             files under <root>/files, with `Range: bytes=N-` answered by 206
  /private/<path>           the same, behind basic auth (--user/--password)
  /digest/<path>            the same, behind digest auth (MD5, qop=auth; same credentials)
  /flaky/<path>             first GET (no Range) sends half the body and drops the connection;
                            later GETs are served normally, ranges included
  /flaky-norange/<path>     like /flaky but ranges are ignored (always 200 and the whole file)
  /flaky-changing/<path>    like /flaky, but the file's ETag changes after the first GET, so a
                            resume with If-Range gets the whole file again (200)
  /badrange/<path>          like /flaky, but a range request is answered 206 with the whole file
                            and `Content-Range: bytes 0-…` (not the range asked for)
  /badrange-always/<path>   like /badrange, but every GET without Range is cut off
  /partial/<path>           answers a GET without Range with 206, `Content-Range: bytes 0-…`
                            and the first half of the file
  /redirect/<n>/<path>      302 to /redirect/<n-1>/<path>, and /redirect/0/<path> to /files/<path>
  /redirect-to?<location>   302 to <location> (percent-decoded), whatever its scheme
  /loop                     302 to itself
  /status/<code>            answers <code> with an empty body
  /page/<code>              answers <code> with an HTML error page of about 10 KiB: its text
                            says `The database & cache are down.` near the top and
                            `BEYOND-THE-EXCERPT` only after the first 4 KiB
  /upload/<name>            PUT or POST: the body is stored in <root>/uploads/<name>, its
                            Content-Type in <root>/uploads/<name>.type; 201. Behind basic auth
                            when --user is given.

With --cert/--key it serves HTTPS.
"""

import argparse
import base64
import hashlib
import os
import ssl
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SEEN = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "red-test/1"

    def log_message(self, *args):
        pass

    def record(self):
        with LOCK, open(os.path.join(self.server.root, "requests.log"), "a") as log:
            log.write("{} {} {} {}\n".format(
                self.command, self.path, self.headers.get("Range", "-"),
                self.headers.get("If-Range", "-").replace(" ", "_")))

    def empty(self, code, headers=()):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def authorised(self):
        if not self.server.user:
            return True
        expected = base64.b64encode(
            "{}:{}".format(self.server.user, self.server.password).encode()
        ).decode()
        if self.headers.get("Authorization", "") == "Basic " + expected:
            return True
        self.empty(401, [("WWW-Authenticate", 'Basic realm="red-test"')])
        return False

    def digest_authorised(self):
        nonce = "red-test-nonce-1"
        header = self.headers.get("Authorization", "")
        if header.startswith("Digest "):
            params = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))
            md5 = lambda text: hashlib.md5(text.encode()).hexdigest()
            ha1 = md5("{}:red-test:{}".format(self.server.user, self.server.password))
            ha2 = md5("{}:{}".format(self.command, self.path))
            expected = md5("{}:{}:{}:{}:auth:{}".format(
                ha1, nonce, params.get("nc", ""), params.get("cnonce", ""), ha2))
            if (params.get("response") == expected and params.get("uri") == self.path
                    and params.get("opaque") == "op-1"):
                return True
        self.empty(401, [("WWW-Authenticate",
                          'Digest realm="red-test", qop="auth", nonce="{}", opaque="op-1", '
                          'algorithm=MD5'.format(nonce))])
        return False

    def local(self, relative):
        relative = urllib.parse.unquote(relative)
        base = os.path.realpath(os.path.join(self.server.root, "files"))
        path = os.path.realpath(os.path.join(base, relative))
        if not path.startswith(base + os.sep) or not os.path.isfile(path):
            return None
        return path

    def serve(self, relative, ranges=True, truncate=False, etag=None, wrong_range=False,
              half_range=False):
        path = self.local(relative)
        if path is None:
            self.empty(404)
            return
        size = os.path.getsize(path)
        etag = etag or '"e-{}"'.format(size)
        start = 0
        header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            header = None
        if ranges and header and header.startswith("bytes=") and header.endswith("-"):
            start = int(header[len("bytes="):-1])
            if start >= size:
                self.empty(416, [("Content-Range", "bytes */{}".format(size))])
                return
            if wrong_range:
                start = 0
            self.send_response(206)
            self.send_header("Content-Range", "bytes {}-{}/{}".format(start, size - 1, size))
        elif half_range:
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-{}/{}".format(size // 2 - 1, size))
            size = size // 2
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes" if ranges else "none")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        with open(path, "rb") as source:
            source.seek(start)
            remaining = size - start
            if truncate:
                remaining //= 2
            while remaining > 0:
                chunk = source.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        if truncate:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    def page(self, code):
        body = ("<!DOCTYPE html>\n<html><head><title>{0} Error</title>\n"
                "<style>body {{ font-family: sans-serif; }}</style></head>\n<body>\n"
                "<h1>Error   {0}</h1>\n\n<p>The database &amp; cache are down.</p>\n"
                "<p>{1}</p>\n<p>BEYOND-THE-EXCERPT</p>\n{1}</body></html>\n").format(
                    code, "padding " * 640).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def first_time(self, key):
        with LOCK:
            if key in SEEN:
                return False
            SEEN.add(key)
            return True

    def do_GET(self):
        self.record()
        path = urllib.parse.urlsplit(self.path).path
        parts = path.lstrip("/").split("/", 1)
        head, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if head == "files":
            self.serve(rest)
        elif head == "private":
            if self.authorised():
                self.serve(rest)
        elif head == "digest":
            if self.digest_authorised():
                self.serve(rest)
        elif head in ("flaky", "flaky-norange", "flaky-changing"):
            ranges = head != "flaky-norange"
            truncate = "Range" not in self.headers and self.first_time(path)
            etag = None
            if head == "flaky-changing":
                etag = '"first"' if truncate else '"second"'
            self.serve(rest, ranges=ranges, truncate=truncate, etag=etag)
        elif head in ("badrange", "badrange-always"):
            truncate = "Range" not in self.headers and (
                head == "badrange-always" or self.first_time(path))
            self.serve(rest, truncate=truncate, wrong_range=True)
        elif head == "partial":
            self.serve(rest, ranges=False, half_range=True)
        elif head == "redirect-to":
            query = urllib.parse.urlsplit(self.path).query
            self.empty(302, [("Location", urllib.parse.unquote(query))])
        elif head == "page":
            self.page(int(rest))
        elif head == "redirect":
            count, _, target = rest.partition("/")
            count = int(count)
            location = "/files/" + target if count <= 0 else "/redirect/{}/{}".format(count - 1, target)
            self.empty(302, [("Location", location)])
        elif head == "loop":
            self.empty(302, [("Location", "/loop")])
        elif head == "status":
            self.empty(int(rest))
        else:
            self.empty(404)

    def upload(self):
        self.record()
        path = urllib.parse.urlsplit(self.path).path
        parts = path.lstrip("/").split("/", 1)
        if parts[0] != "upload" or len(parts) < 2 or "/" in parts[1]:
            self.empty(404)
            return
        target = os.path.join(self.server.root, "uploads", urllib.parse.unquote(parts[1]))
        if not self.authorised_upload():
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as sink:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    sink.write(self.rfile.read(size))
                    self.rfile.readline()
            else:
                remaining = int(self.headers.get("Content-Length", "0"))
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    sink.write(chunk)
                    remaining -= len(chunk)
        with open(target + ".type", "w") as kind:
            kind.write(self.headers.get("Content-Type", ""))
        self.empty(201)

    def authorised_upload(self):
        if self.server.user and not self.authorised_quietly():
            # Read the body first, so the client sees the 401 and not a reset connection.
            remaining = int(self.headers.get("Content-Length", "0"))
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            self.empty(401, [("WWW-Authenticate", 'Basic realm="red-test"')])
            return False
        return True

    def authorised_quietly(self):
        expected = base64.b64encode(
            "{}:{}".format(self.server.user, self.server.password).encode()
        ).decode()
        return self.headers.get("Authorization", "") == "Basic " + expected

    do_PUT = upload
    do_POST = upload


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.root = args.root
    server.user = args.user
    server.password = args.password
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("PORT {}".format(server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
