"""What one emit + ack costs the hub's server, in numbers that do not move with the
machine's load: CPU instructions (valgrind's callgrind) and Python bytecodes
(``sys.settrace`` opcode events, by function).

    python bench/ack_cost.py [--server switchboard] [--clients 20] [--bytecodes]

The server is one of bench/realtime_servers.py's (``switchboard``,
``switchboard-json``, ``switchboard-full``), run under callgrind (or the tracer);
bench/realtime.py's load generator keeps one emit with ack in flight per client:
a warm-up, then the counters are zeroed, then the measured acks, then the counters
are dumped. Instructions leave out the kernel (about a third of the server's CPU
time on loopback: the ``read`` and the ``write`` of each ack). Needs ``valgrind``
(``apt-get install valgrind``) for instructions; bytecodes need nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import realtime as rt

# Runs the server with a tracer counting opcodes per function: SIGUSR1 zeroes the
# counts, SIGUSR2 writes them to the file named by ACK_COST_OUT.
TRACER = r"""
import collections, os, runpy, signal, sys
counts = collections.Counter()
def tracer(frame, event, arg):
    frame.f_trace_opcodes = True
    if event == "opcode":
        code = frame.f_code
        counts[f"{os.path.basename(code.co_filename)}:{code.co_name}"] += 1
    return tracer
def dump(*_):
    with open(os.environ["ACK_COST_OUT"], "w") as out:
        out.writelines(f"{n} {where}\n" for where, n in counts.most_common())
signal.signal(signal.SIGUSR1, lambda *_: counts.clear())
signal.signal(signal.SIGUSR2, dump)
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
sys.settrace(tracer)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


async def measure(args: argparse.Namespace, out: Path) -> int:
    """Run the acks against the server under its counter; the number measured."""
    script = str(rt.HERE / "realtime_servers.py")
    if args.bytecodes:
        command = [sys.executable, "-c", TRACER, script, args.server]
        os.environ["ACK_COST_OUT"] = str(out)
    else:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, script, args.server]
    server = rt.ServerProcess(args.server, command=command)
    try:
        clients = await rt.connect_many(server.port, rt.wire_for(args.server), args.clients)
        rt.run_acks(clients, args.warmup, None)
        if args.bytecodes:
            os.kill(server.pid, signal.SIGUSR1)
            time.sleep(0.2)  # the signal is handled between two bytecodes
        else:
            subprocess.run(
                ["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True
            )
        acks, _ = rt.run_acks(clients, args.duration, None)
        if args.bytecodes:
            os.kill(server.pid, signal.SIGUSR2)
            time.sleep(0.5)
        else:
            subprocess.run(
                ["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True
            )
        await rt.disconnect(clients)
        return acks
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server",
        default="switchboard",
        choices=["switchboard", "switchboard-json", "switchboard-full"],
    )
    parser.add_argument("--clients", type=int, default=20, help="one ack in flight each (20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of acks first (3)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured (8)")
    parser.add_argument(
        "--bytecodes", action="store_true", help="count bytecodes by function instead"
    )
    args = parser.parse_args()
    if not args.bytecodes and shutil.which("valgrind") is None:
        raise SystemExit(
            "ack_cost.py: valgrind is not installed (apt-get install valgrind), or use --bytecodes"
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts"
        acks = asyncio.run(measure(args, out))
        if args.bytecodes:
            rows = [line.split(" ", 1) for line in out.read_text().splitlines()]
            total = sum(int(n) for n, _ in rows)
            print(f"{args.server}: {acks:,} acks, {total / acks:.0f} bytecodes per ack")
            for n, where in rows[:25]:
                print(f"{int(n) / acks:8.1f}  {where}")
            return
        dumps = sorted(Path(tmp).glob("counts.*"), key=os.path.getmtime)  # the -d dump
        total = next(
            int(line.split()[1])
            for line in dumps[-1].read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        )
        print(f"{args.server}: {acks:,} acks, {total / acks / 1000:.1f}k instructions per ack")


if __name__ == "__main__":
    main()
