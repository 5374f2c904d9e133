"""A channel's journal of the replies it has sent, for the moment before the database knows.

A lane marks its replies sent in the database once they are all out, in a transaction that
may wait behind other writers (SQLite has one) for a while in a burst. If the process is
killed in between, the outbox would send them again after the restart. So each send is
first appended here — one write() of the reply's key, done microseconds after Telegram
answered, and kept by the operating system even if the process is killed — and at the next
start the keys found here are marked sent before anything is sent again.

The file is rotated when it grows past ROTATE_BYTES; the previous file is read too. (A
power cut can lose what the operating system had not written yet: then a reply may come
twice, never not at all.)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

ROTATE_BYTES = 1_000_000


class SentJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous = path.with_suffix(path.suffix + ".1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def sent(self, key: str) -> None:
        with self._lock:
            os.write(self._fd, f"{key}\n".encode())
            if os.fstat(self._fd).st_size > ROTATE_BYTES:
                os.close(self._fd)
                self.path.replace(self.previous)
                self._fd = self._open()

    def recorded(self) -> list[str]:
        """Every key written since the last `clear` (the rotated file's too)."""
        found: list[str] = []
        for path in (self.previous, self.path):
            if path.exists():
                found += [line for line in path.read_text("utf-8").splitlines() if line]
        return found

    def clear(self) -> None:
        """Forget everything: the database has it now."""
        with self._lock:
            self.previous.unlink(missing_ok=True)
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)
