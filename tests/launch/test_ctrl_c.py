"""Ctrl-C to the launcher stops like SIGTERM (issue 22): the cells get SIGTERM (checkpoint, exit 75) and
no further cell starts; a second Ctrl-C interrupts at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.launch.local import Children

CHILD = """
import signal, sys, time
from pathlib import Path
def on(sig, frame):
    Path(sys.argv[1]).write_text(signal.Signals(sig).name)
    sys.exit(75)
signal.signal(signal.SIGTERM, on)
signal.signal(signal.SIGINT, signal.SIG_IGN)
Path(sys.argv[1] + ".ready").write_text("")
time.sleep(60)
"""


def test_ctrl_c_is_forwarded_to_cells_as_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "got"
    children = Children()
    with children.forwarding():
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(marker)], start_new_session=True)
        children.procs.add(proc)
        deadline = time.time() + 60
        while not Path(str(marker) + ".ready").exists() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
        assert proc.wait(timeout=60) == 75
        assert children.stopping and marker.read_text() == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
