"""The top-level API: what a new user reaches with ``import switchboard`` alone."""

from __future__ import annotations

import subprocess
import sys


def test_a_server_and_the_sync_client_need_only_import_switchboard() -> None:
    # A fresh interpreter: other tests may already have imported the submodules.
    code = (
        "import switchboard\n"
        "assert switchboard.tls_context is switchboard.server.tls_context\n"
        "assert switchboard.html_response is switchboard.server.html_response\n"
        "assert switchboard.json_response is switchboard.server.json_response\n"
        "assert switchboard.text_response is switchboard.server.text_response\n"
        "assert switchboard.sync.connect\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
