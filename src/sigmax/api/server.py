"""Serving the API with uvicorn, on an event loop the caller owns.

:class:`ApiServer` binds its socket itself, so a port in use is a typed error instead of
uvicorn's ``sys.exit``; it leaves logging to SIGMAX (uvicorn's records go to the root logger,
where the secrets are masked) and leaves signals alone, so a process that embeds it (the
engine of ``sigmax run``) keeps its own Ctrl-C handling. Stop it with :meth:`ApiServer.stop`.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from sigmax.errors import SigmaxError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ApiServerError(SigmaxError):
    """The API could not listen (names the address)."""


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the embedding process decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _SignalStoppedServer(uvicorn.Server):
    """uvicorn stopping gracefully on SIGINT / SIGTERM (a second Ctrl-C forces it).

    Unlike uvicorn's own handling, the signal is not raised again once the server has
    stopped: stopping is the normal end of a server process, not a failure.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise ApiServerError(f"api.host {host!r}: cannot resolve it: {error}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ApiServerError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; choose another "
            "port with --port (or api.port in config.yaml)"
        ) from None
    sock.set_inheritable(True)
    return sock


class ApiServer:
    """``app`` served on ``host:port``: ``await server.serve()`` until :meth:`stop`.

    ``handle_signals``: stop gracefully on SIGINT / SIGTERM (a process that only serves, like
    ``sigmax serve``); leave it off when embedding the API in a process with its own handling.
    """

    def __init__(self, app: FastAPI, host: str, port: int, *, handle_signals: bool = False) -> None:
        self.app = app
        self.host = host
        self._socket = bind_socket(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_config=None,
            lifespan="on",
            server_header=False,
            access_log=True,
        )
        self._server = _SignalStoppedServer(config) if handle_signals else _QuietServer(config)

    @property
    def started(self) -> bool:
        return self._server.started

    async def serve(self) -> None:
        """Answer requests until :meth:`stop`; closes the socket when done."""
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            self._socket.close()

    def stop(self) -> None:
        """Ask the server to finish its requests and return from :meth:`serve`."""
        self._server.should_exit = True
