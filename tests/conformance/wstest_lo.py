# Python 2.7 launcher for wstest (autobahntestsuite 25.10.1), run by run.py with the
# Python 2.7 virtualenv that install_wstest.sh makes.  Same arguments as `wstest`,
# except that the fuzzingserver listens on $WSTEST_BIND (default 127.0.0.1) instead
# of every interface.
# ruff: noqa
import os
import sys

import autobahntestsuite.fuzzing as fuzzing
from autobahntestsuite.wstest import run

_listenWS = fuzzing.listenWS


def listenWS_loopback(factory, contextFactory=None, backlog=50, interface=""):
    return _listenWS(factory, contextFactory, backlog, os.environ.get("WSTEST_BIND", "127.0.0.1"))


fuzzing.listenWS = listenWS_loopback

if __name__ == "__main__":
    sys.argv[0] = "wstest"
    run()
