"""Static files: one directory served under a URL prefix, with HTTP caching.

Safe by construction: the URL path is percent-decoded once, then refused (404) if any
segment is ``..``, starts with a dot (no ``.git``, no ``.env``) or holds a NUL or a
backslash; the file's real path, symlinks resolved, must lie under the root.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
from collections.abc import Awaitable
from email.utils import formatdate, parsedate_to_datetime
from typing import BinaryIO

from ..protocol.http11 import Headers, Request, Response
from .responses import error_response

__all__ = ["StaticFiles"]

# Smaller files are read on the event loop (from the page cache that takes
# microseconds); larger ones in a worker thread so the loop never waits on a disk.
INLINE_READ = 64 * 1024

# The standard library's built-in table, not the machine's /etc/mime.types, so that
# every host answers alike; then a few corrections and additions.
_TYPES = mimetypes.MimeTypes()
for _ext, _type in {
    ".js": "text/javascript",  # RFC 9239
    ".mjs": "text/javascript",
    ".map": "application/json",
    ".ts": "application/typescript",  # not MPEG transport streams: .d.ts beside .js
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ico": "image/x-icon",
}.items():
    _TYPES.add_type(_type, _ext)
_CHARSET_TYPES = {
    "application/typescript",
    "application/json",
    "application/manifest+json",
    "image/svg+xml",
}


def content_type(name: str) -> str:
    """The Content-Type for a file name, with ``charset=utf-8`` for text.

    >>> content_type("app.js"), content_type("logo.png"), content_type("x.unknown")
    ('text/javascript; charset=utf-8', 'image/png', 'application/octet-stream')
    """
    kind, _ = _TYPES.guess_type(name, strict=False)
    if kind is None:
        return "application/octet-stream"
    if kind.startswith("text/") or kind in _CHARSET_TYPES:
        return f"{kind}; charset=utf-8"
    return kind


class StaticFiles:
    """The route handler behind :meth:`Router.static`; ``path_params["path"]`` is the
    file's path under ``directory``, percent-decoded once by the router."""

    def __init__(self, directory: str | os.PathLike[str], *, max_age: int, index: str | None):
        self.root = os.path.realpath(directory)
        if not os.path.isdir(self.root):
            raise ValueError(f"static directory {str(directory)!r} is not a directory")
        self.cache_control = f"public, max-age={max_age}" if max_age > 0 else "no-cache"
        self.index = index

    def __call__(self, request: Request) -> Response | Awaitable[Response]:
        path = self._resolve(request.path_params.get("path", ""))
        if path is None:
            return error_response(404)
        if os.path.isdir(path):
            if self.index is None:
                return error_response(404)
            if not request.path.endswith("/"):
                # Relative links in the index page need the URL to end with a slash.
                # One leading slash: "//host/" would send the browser to another host.
                location = "/" + request.path.lstrip("/") + "/"
                if request.query:
                    location += f"?{request.query}"
                return Response(308, headers=Headers({"Location": location}))
            path = os.path.join(path, self.index)
        try:
            # O_NONBLOCK: opening a FIFO planted in the directory must not hang the loop.
            file = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
        except OSError:  # missing or unreadable
            return error_response(404)
        threaded = False
        try:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                return error_response(404)
            response = self._head(request, info, path)
            if response.status == 304 or request.method == "HEAD":
                return response
            if info.st_size <= INLINE_READ:
                response.body = file.read()
                return response
            threaded = True
            return self._read(file, response)
        finally:
            if not threaded:
                file.close()

    async def _read(self, file: BinaryIO, response: Response) -> Response:
        """Read a large file in a worker thread; closes ``file``."""
        with file:
            response.body = await asyncio.to_thread(file.read)
        return response

    def _resolve(self, relative: str) -> str | None:
        """The real path of ``relative`` under the root, or None if it is not allowed."""
        parts = [part for part in relative.split("/") if part]
        if any(part[0] == "." or "\0" in part or "\\" in part for part in parts):
            return None
        path = os.path.realpath(os.path.join(self.root, *parts))
        if os.path.commonpath((self.root, path)) != self.root:
            return None  # a symlink pointing outside the root
        return path

    def _head(self, request: Request, info: os.stat_result, path: str) -> Response:
        """The response without its body: 200 with validators, or 304 Not Modified."""
        etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        headers = Headers(
            [
                ("ETag", etag),
                ("Last-Modified", formatdate(info.st_mtime, usegmt=True)),
                ("Cache-Control", self.cache_control),
            ]
        )
        if _not_modified(request.headers, etag, info.st_mtime):
            return Response(304, headers=headers)
        headers["Content-Type"] = content_type(path)
        headers["X-Content-Type-Options"] = "nosniff"
        if request.method == "HEAD":  # a GET's length comes from the body actually read
            headers["Content-Length"] = str(info.st_size)
        return Response(200, headers=headers)


def _not_modified(headers: Headers, etag: str, mtime: float) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if "If-None-Match" in headers:
        tags = {tag.strip().removeprefix("W/") for tag in headers["If-None-Match"].split(",")}
        return "*" in tags or etag in tags
    since = headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return int(mtime) <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError, IndexError):  # an unparsable date is ignored
        return False
