"""``--foxglove [HOST:]PORT``: the running simulation over the Foxglove WebSocket protocol (foxglove-sdk's server).

The server is bound before the run is built (a port in use or an address that does not resolve is the
user's input: one line, exit 2) and handed to the recorder (``sim.features.record``), which creates its
channels on the server's logging context: with ``--record`` too, the MCAP writer joins the same context,
so both sinks get the same channels and messages.

Memory with no client, or a slow one (what the SDK does, foxglove-sdk 0.30): a channel no client has
subscribed to has no sink, so a message logged on it is dropped at once (and the recorder does not even
build it: ``has_sinks``); each subscribed client has a queue of ``BACKLOG`` messages, and when a slow
client lets it fill the SDK drops that client's oldest data message (its control queue, the same size,
disconnects the client when full). Either way memory stays bounded; a slow client misses messages,
the run never waits for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from foxglove.websocket import ServerListener

from sim.errors import UsageError

if TYPE_CHECKING:
    from foxglove import Context
    from foxglove.websocket import ChannelView, Client, WebSocketServer

__all__ = ["BACKLOG", "LiveServer", "parse_address"]

BACKLOG = 1024  # messages queued per client before its oldest data message is dropped (the SDK's default)
DEFAULT_HOST = "127.0.0.1"


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); host defaults to 127.0.0.1, port 0 = any free port."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    host = host.strip("[]") or DEFAULT_HOST  # [::1]:8765 for IPv6
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--foxglove: {text!r} is not [HOST:]PORT (e.g. 8765 or 0.0.0.0:8765)") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--foxglove: port {port} is out of range (0-65535; 0 = any free port)")
    return host, port


class LiveServer(ServerListener):
    """A started Foxglove WebSocket server and the logging context its channels live in."""

    def __init__(self, host: str, port: int, wait: float = 0.0) -> None:
        import foxglove
        from foxglove.websocket import Capability

        self.host = host
        self.wait = wait  # s of real time ``wait_for_client`` holds the run's start (0: no wait)
        # Called once the run's channels exist (the CLI prints the URL then: a client that connects
        # from then on is advertised every channel at once)
        self.on_ready: Callable[[LiveServer], None] | None = None
        self.context: Context = foxglove.Context()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self._new_topics: set[str] = set()
        try:
            self.server: WebSocketServer | None = foxglove.start_server(
                name="fleet-timing-sim", host=host, port=port, context=self.context, server_listener=self,
                capabilities=[Capability.Time], message_backlog_size=BACKLOG)
        except RuntimeError as exc:  # the SDK's FoxgloveError: bind failed (in use, no such address)
            reason = str(exc).removeprefix("FoxgloveError: ")
            raise UsageError(f"--foxglove {host}:{port}: cannot serve there: {reason}") from None
        self.port = self.server.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    # ServerListener (SDK threads)
    def on_subscribe(self, client: Client, channel: ChannelView) -> None:
        with self._lock:
            self._new_topics.add(channel.topic)
        self._subscribed.set()

    def new_subscriptions(self) -> set[str]:
        """Topics subscribed to since the last call (the recorder re-sends static messages on them)."""
        with self._lock:
            topics, self._new_topics = self._new_topics, set()
        return topics

    def ready(self) -> None:
        """The run's channels are created: tell ``on_ready``."""
        if self.on_ready is not None:
            self.on_ready(self)

    def wait_for_client(self, cancel: threading.Event | None = None) -> bool:
        """Hold (up to ``wait`` real seconds) until a client subscribes to a channel; True if one did.

        ``cancel`` set (the run ended: Ctrl-C while waiting) stops the wait at once.
        """
        if self.wait <= 0:
            return False
        end = time.monotonic() + self.wait
        while (left := end - time.monotonic()) > 0 and not (cancel is not None and cancel.is_set()):
            if self._subscribed.wait(min(left, 0.1)):
                return True
        return self._subscribed.is_set()

    def broadcast_time(self, nanoseconds: int) -> None:
        """Tell clients the simulated time (the Time capability: Foxglove's clock follows the run's)."""
        if self.server is not None:
            self.server.broadcast_time(nanoseconds)

    def stop(self) -> None:
        """Stop serving (idempotent): clients are disconnected, the port is free again."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
