"""Signals at any moment and ports no two callers share: the managed-process basics."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

from lwt.stack.process import PORT_RANGE, free_port, port_in_use

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from lwt.stack.shutdown import Interrupted, shutdown
    shutdown.install()
    events = []
    try:
        with shutdown.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # a second signal while stopping: ignored
            events.append("held inside the critical section")
        events.append("not reached")
    except Interrupted as exc:
        events.append(f"raised after it: {exc.signal_name}")
    with shutdown.deferred(raise_after=False):
        events.append("a stop runs to its end")
    print("|".join(events))
""")


def test_a_signal_inside_a_critical_section_is_held_then_raised_once():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("held inside the critical section|raised after it: SIGTERM|"
                                     "a stop runs to its end")


def test_ports_are_outside_the_ephemeral_range():
    ours = {free_port() for _ in range(40)}
    assert len(ours) == 40
    assert all(PORT_RANGE[0] <= p < PORT_RANGE[1] and not port_in_use(p) for p in ours)


def test_a_live_holder_keeps_its_ports():
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from lwt.stack.process import free_port
        print(" ".join(str(free_port()) for _ in range(60)), flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = set(map(int, holder.stdout.readline().split()))
        ours = {free_port() for _ in range(60)}
        assert not theirs & ours
    finally:
        holder.communicate("", timeout=30)


def test_the_console_script_arms_the_handler_before_the_heavy_imports():
    """`lwt` runs `lwt.entry`, which imports only the signal handling before arming it:
    a signal during the second or more of importing every command is then held, not fatal."""
    assert importlib.metadata.entry_points(group="console_scripts")["lwt"].value == "lwt.entry:main"
    ours = subprocess.run([sys.executable, "-c", "import sys, lwt.entry; print(' '.join(sorted(m for m in sys.modules "
                           "if m.split('.')[0] in {'lwt', 'exporters', 'numpy', 'kserve', 'tritonclient'})))"],
                          capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert ours == ["lwt", "lwt.entry", "lwt.stack", "lwt.stack.shutdown"]
