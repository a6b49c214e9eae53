"""One writer per run folder: `bench run` holds `<run>/.lock` (host, PID, start time) while it
writes. A second run into the folder stops at once naming the holder; a lock whose process is
gone (same host, PID not alive) is taken over. Readers never take it: a unit folder appears whole
or not at all, so reading during a run is safe.

The lock file is created with O_CREAT | O_EXCL, which is atomic on local disks and on NFSv3+,
where a Ray cluster's shared results folder lives."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from benchmark.results.store import ResultsError

LOCK_NAME = ".lock"


class RunLockedError(ResultsError):
    """Another live process is writing into the run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


class RunLock:
    """`with RunLock(run_dir):` holds the run folder's lock for the block."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.me = {"host": socket.gethostname(), "pid": os.getpid(),
                   "since": time.strftime("%Y-%m-%d %H:%M:%S")}

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # NOTE: a stale lock removed here may be re-taken by a racing run
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self.me, f)
            return self
        raise RunLockedError(f"{self.path}: could not take the run folder's lock")

    def _take_over_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
            host, pid = holder["host"], int(holder["pid"])
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (ValueError, KeyError, TypeError):
            if time.time() - self.path.stat().st_mtime < 5:
                time.sleep(0.5)  # NOTE: its writer may be between create and write: look again
                return
            holder, host, pid = {}, self.me["host"], -1  # left empty by a killed process
        if host == self.me["host"] and (pid < 0 or not _alive(pid)):
            self.path.unlink(missing_ok=True)
            return
        raise RunLockedError(
            f"{self.path.parent}: another run is writing here (host {host}, PID {pid}, since "
            f"{holder.get('since', '?')}); wait for it, or pass --run NAME for another folder "
            f"(if that process is gone, delete {self.path})")

    def __exit__(self, *exc) -> None:
        try:
            if json.loads(self.path.read_text()).get("pid") == self.me["pid"]:
                self.path.unlink()
        except (OSError, ValueError):
            pass
