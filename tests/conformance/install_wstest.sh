#!/usr/bin/env bash
# Install Autobahn|Testsuite (wstest 25.10.1) for tests/conformance/run.py.
#
# wstest is Python 2.7 code, and current Debian/Ubuntu ship no Python 2.7.  So this
# takes CPython 2.7.18 from Debian 11 (bullseye): apt-get *downloads* its .debs with a
# private sources list / lists / cache, and `dpkg -x` unpacks them under the cache
# dir.  Nothing of the system (dpkg state, /etc, /usr) is changed and no root is needed.
# Then: a Python 2.7 virtualenv (virtualenv 20.21.1 is the last release that makes
# them) with the pins of wstest-requirements.txt.
#
# Cache dir: $SWITCHBOARD_AUTOBAHN_DIR, default ~/.cache/switchboard/autobahn.
# Mirror:    the Debian mirror of the machine's apt configuration, or
#            $AUTOBAHN_DEBIAN_MIRROR (e.g. on Ubuntu: URL of any Debian mirror).
# Needs:     apt-get, dpkg, a C compiler (build-essential), python3 with venv.
# Idempotent: each step is skipped when done; ~30-60 s the first time, ~1 s after.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${SWITCHBOARD_AUTOBAHN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/autobahn}
PYROOT=$DIR/py27root VENV=$DIR/venv TOOLS=$DIR/tools APTDIR=$DIR/apt
py27() { LD_LIBRARY_PATH=$(echo "$PYROOT"/usr/lib/*-linux-gnu) "$PYROOT/usr/bin/python2.7" "$@"; }
mkdir -p "$DIR"
exec 9>"$DIR/.lock" && flock 9  # one install at a time (parallel test runs)

# 1. CPython 2.7 from Debian bullseye, unpacked under $PYROOT
if ! py27 -c 'import ssl, zlib, ctypes' 2>/dev/null; then
  echo "install_wstest: fetching Python 2.7 (Debian bullseye packages) into $PYROOT"
  mirror=${AUTOBAHN_DEBIAN_MIRROR:-}
  [ -n "$mirror" ] || mirror=$(sed -nE -e 's#^URIs: *([^ ]*/debian)/?$#\1#p' \
    -e 's#^deb +(\[[^]]*\] +)?([^ ]*/debian)/? .*#\2#p' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)
  [ -n "$mirror" ] || { echo "install_wstest: no Debian mirror in the apt configuration;" \
    "set AUTOBAHN_DEBIAN_MIRROR to the URL of one" >&2; exit 2; }
  kr=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r "$kr" ] || { echo "install_wstest: $kr missing (apt-get install debian-archive-keyring)" >&2; exit 2; }
  rm -rf "$APTDIR"; mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,debs}
  printf 'deb [signed-by=%s] %s bullseye main\ndeb [signed-by=%s] %s-security bullseye-security main\n' \
    "$kr" "$mirror" "$kr" "$mirror" > "$APTDIR/sources.list"
  apto=(-o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" -o Debug::NoLocking=1)
  apt-get "${apto[@]}" update -qq
  # Their other dependencies (libbz2, libexpat, libsqlite3, ...) are in every newer release.
  (cd "$APTDIR/debs" && apt-get "${apto[@]}" download -qq python2.7 python2.7-minimal \
    libpython2.7-minimal libpython2.7-stdlib python2.7-dev libpython2.7-dev libpython2.7 libssl1.1 libffi7)
  rm -rf "$PYROOT"; mkdir -p "$PYROOT"
  for d in "$APTDIR"/debs/*.deb; do dpkg -x "$d" "$PYROOT"; done
  rm -rf "$APTDIR"
  py27 -c 'import ssl, zlib, ctypes'
fi

# 2. virtualenv that can still make 2.7 environments (runs on python3)
if [ ! -x "$TOOLS/bin/virtualenv" ]; then
  rm -rf "$TOOLS"; python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q 'virtualenv==20.21.1'
fi

# 3. the wstest virtualenv
LD_LIBRARY_PATH=$(echo "$PYROOT"/usr/lib/*-linux-gnu)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
if ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
  rm -rf "$VENV"
  "$TOOLS/bin/virtualenv" -q -p "$PYROOT/usr/bin/python2.7" "$VENV"
fi
if ! "$VENV/bin/python" -c 'import autobahntestsuite, wsaccel' 2>/dev/null; then
  echo "install_wstest: installing autobahntestsuite into $VENV"
  # Debian's distutils points C builds at /usr/include/python2.7: point them at ours
  # (wsaccel, ujson and Twisted build C extensions from their sdists).
  export CFLAGS="-I$PYROOT/usr/include/python2.7 -I$PYROOT/usr/include"
  PYTHONWARNINGS=ignore "$VENV/bin/pip" install -q --no-python-version-warning \
    -r "$HERE/wstest-requirements.txt"
fi

PYTHONWARNINGS=ignore "$VENV/bin/python" "$HERE/wstest_lo.py" --autobahnversion
