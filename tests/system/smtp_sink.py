"""An SMTP server in a process of its own, for the system tests and the soak benchmark.

It accepts every message and appends its Message-ID to a file, one a line, once the message
is accepted. Files in the control folder steer it while it runs: `delay` (seconds, read for
each message) slows every DATA down; while `hang` exists, DATA waits, and `hanging` says a
message is being held.

    python -m tests.system.smtp_sink PORT RECEIVED_FILE CONTROL_FOLDER
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, received: Path, control: Path) -> None:
        self.received = received
        self.control = control

    def _delay(self) -> float:
        try:
            return float((self.control / "delay").read_text())
        except (OSError, ValueError):
            return 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        while (self.control / "hang").exists():
            (self.control / "hanging").touch()
            await asyncio.sleep(0.05)
        if delay := self._delay():
            await asyncio.sleep(delay)
        content: bytes = envelope.original_content or envelope.content
        message_id = ""
        for line in content.split(b"\r\n"):
            if not line:
                break  # end of the headers
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
        with self.received.open("a") as out:
            out.write(message_id.strip("<>") + "\n")
        return "250 2.0.0 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("received", type=Path)
    parser.add_argument("control", type=Path)
    args = parser.parse_args()
    # Blocked before the server's thread starts, so that only sigwait receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    args.control.mkdir(parents=True, exist_ok=True)
    args.received.touch()
    controller = Controller(
        Recorder(args.received, args.control), hostname="127.0.0.1", port=args.port
    )
    controller.start()
    (args.control / "ready").touch()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
