"""Static files over real sockets: types, caching, HEAD, and path traversal attempts."""

from __future__ import annotations

import doctest
import os
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import pytest
from server_helpers import Raw, fetch

import switchboard
from switchboard import Router
from switchboard.server import static
from switchboard.server.static import content_type

LARGE = bytes(range(256)) * 1200  # 307,200 bytes: read in a worker thread


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "css").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "empty").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "app.js").write_text("console.log(1)")
    (root / "data.json").write_text("{}")
    (root / "css" / "site.css").write_text("body{}")
    (root / "docs" / "index.html").write_text("docs")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n")
    (root / "blob.unknownext").write_bytes(b"?")
    (root / "large.bin").write_bytes(LARGE)
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "alias.css").symlink_to(root / "css" / "site.css")
    os.mkfifo(root / "pipe")
    return root


@pytest.fixture
async def port(site: Path) -> AsyncIterator[int]:
    router = Router()
    router.get("/api")(lambda request: "api")
    router.static("/", site)
    router.static("/nocache", site / "css", max_age=0, index=None)
    router.static("/assets/", site)
    async with switchboard.serve(router, "127.0.0.1", 0) as srv:
        yield srv.port


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/css/site.css", "text/css; charset=utf-8"),
        ("/logo.png", "image/png"),
        ("/blob.unknownext", "application/octet-stream"),
    ],
)
async def test_content_types(port: int, path: str, expected: str) -> None:
    reply = await fetch(port, "GET", path)
    assert reply.status == 200
    assert reply.headers["content-type"] == expected
    assert reply.headers["x-content-type-options"] == "nosniff"


async def test_body_and_caching_headers(port: int, site: Path) -> None:
    reply = await fetch(port, "GET", "/css/site.css")
    assert reply.body == b"body{}"
    assert reply.headers["content-length"] == "6"
    assert reply.headers["cache-control"] == "public, max-age=3600"
    info = (site / "css" / "site.css").stat()
    assert reply.headers["etag"] == f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    assert reply.headers["last-modified"] == formatdate(info.st_mtime, usegmt=True)
    reply = await fetch(port, "GET", "/nocache/site.css")
    assert (reply.body, reply.headers["cache-control"]) == (b"body{}", "no-cache")


async def test_conditional_requests_get_304(port: int) -> None:
    etag = (await fetch(port, "GET", "/app.js")).headers["etag"]
    reply = await fetch(port, "GET", "/app.js", f"If-None-Match: {etag}")
    assert (reply.status, reply.body, reply.headers["etag"]) == (304, b"", etag)
    assert "content-length" not in reply.headers
    for header in (f'If-None-Match: "x", W/{etag}', "If-None-Match: *"):
        assert (await fetch(port, "GET", "/app.js", header)).status == 304
    assert (await fetch(port, "GET", "/app.js", 'If-None-Match: "other"')).status == 200
    future = "If-Modified-Since: " + formatdate(4102444800, usegmt=True)  # 2100
    past = "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"
    assert (await fetch(port, "GET", "/app.js", future)).status == 304
    assert (await fetch(port, "GET", "/app.js", past)).status == 200
    assert (await fetch(port, "GET", "/app.js", "If-Modified-Since: garbage")).status == 200
    # If-None-Match decides when both are present (RFC 9110 13.2.2).
    reply = await fetch(port, "GET", "/app.js", 'If-None-Match: "other"', future)
    assert reply.status == 200
    assert (await fetch(port, "HEAD", "/app.js", f"If-None-Match: {etag}")).status == 304


async def test_head_has_length_and_no_body(port: int) -> None:
    raw = await Raw.open(port)
    raw.send(b"HEAD /large.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /app.js HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await raw.reply(head=True)
    assert (head.status, head.headers["content-length"], head.body) == (200, str(len(LARGE)), b"")
    assert (await raw.reply()).body == b"console.log(1)"
    await raw.close()


async def test_large_file_is_served_whole(port: int) -> None:
    reply = await fetch(port, "GET", "/large.bin")
    assert reply.headers["content-length"] == str(len(LARGE))
    assert reply.body == LARGE


async def test_directories_serve_their_index(port: int) -> None:
    assert (await fetch(port, "GET", "/docs/")).body == b"docs"
    reply = await fetch(port, "GET", "/docs?x=1")
    assert (reply.status, reply.headers["location"]) == (308, "/docs/?x=1")
    reply = await fetch(port, "GET", "/assets")
    assert (reply.status, reply.headers["location"]) == (308, "/assets/")
    assert (await fetch(port, "GET", "/assets/")).body == b"<h1>home</h1>"
    assert (await fetch(port, "GET", "/assets/css/site.css")).body == b"body{}"
    assert (await fetch(port, "GET", "/assetsX")).status == 404
    # Never a protocol-relative "//docs/": that would send the browser to host "docs".
    reply = await fetch(port, "GET", "//docs")
    assert (reply.status, reply.headers["location"]) == (308, "/docs/")
    assert (await fetch(port, "GET", "/nocache")).status == 404  # index=None
    assert (await fetch(port, "GET", "/nocache/")).status == 404
    assert (await fetch(port, "GET", "/empty/")).status == 404  # no index.html


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/css/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%252e%252e/secret.txt",  # decoded once only: a literal "%2e%2e" directory
        "/escape.txt",  # a symlink leading outside the root
        "/.env",
        "/css/%2e%65nv",
        "/app.js%00.png",
        "/css%5c..%5c..%5csecret.txt",
        "/pipe",  # a FIFO: refused without blocking on open
        "/missing.txt",
    ],
)
async def test_traversal_and_special_files_get_404(port: int, path: str) -> None:
    reply = await fetch(port, "GET", path)
    assert reply.status == 404
    assert b"outside" not in reply.body and b"SECRET" not in reply.body


async def test_symlink_inside_the_root_is_served(port: int) -> None:
    assert (await fetch(port, "GET", "/alias.css")).body == b"body{}"


async def test_routes_win_over_a_root_mount_and_other_methods_get_405(port: int) -> None:
    assert (await fetch(port, "GET", "/api")).body == b"api"
    reply = await fetch(port, "POST", "/app.js", body=b"x")
    assert (reply.status, reply.headers["allow"]) == (405, "GET, HEAD")


def test_content_type_table() -> None:
    assert content_type("a.mjs") == "text/javascript; charset=utf-8"
    assert content_type("a.svg") == "image/svg+xml; charset=utf-8"
    assert content_type("a.woff2") == "font/woff2"
    assert content_type("a.wasm") == "application/wasm"
    assert content_type("A.PNG") == "image/png"


def test_docstring_examples() -> None:
    result = doctest.testmod(static)
    assert (result.attempted, result.failed) == (1, 0)
