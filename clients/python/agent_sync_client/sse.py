"""Incremental ``text/event-stream`` parsing: text in, complete messages out (lines end in LF, CRLF or CR;
a blank line ends a message)."""

from __future__ import annotations

import re
from typing import List, Optional

_EOL = re.compile(r"\r\n|\r|\n")


class SseMessage:
    __slots__ = ("event", "data", "id", "retry", "comment")

    def __init__(self) -> None:
        self.event: Optional[str] = None
        self.data: Optional[str] = None
        self.id: Optional[str] = None
        self.retry: Optional[int] = None
        self.comment: Optional[str] = None

    def empty(self) -> bool:
        return all(getattr(self, k) is None for k in self.__slots__)


class SseParser:
    def __init__(self) -> None:
        self._buf = ""
        self._msg = SseMessage()
        self._data: List[str] = []

    def push(self, chunk: str) -> List[SseMessage]:
        self._buf += chunk
        out: List[SseMessage] = []
        while True:
            m = _EOL.search(self._buf)
            # a lone CR at the end may be the first half of a CRLF: wait for more
            if not m or (m.group() == "\r" and m.end() == len(self._buf)):
                break
            line, self._buf = self._buf[: m.start()], self._buf[m.end() :]
            if line == "":
                msg = self._msg
                if self._data:
                    msg.data = "\n".join(self._data)
                    msg.event = msg.event or "message"
                if not msg.empty():
                    out.append(msg)
                self._msg, self._data = SseMessage(), []
                continue
            field, _, value = line.partition(":")
            if field == "":
                self._msg.comment = value.strip()
                continue
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                self._data.append(value)
            elif field == "event":
                self._msg.event = value
            elif field == "id" and "\0" not in value:
                self._msg.id = value
            elif field == "retry" and value.isdigit():
                self._msg.retry = int(value)
        return out

