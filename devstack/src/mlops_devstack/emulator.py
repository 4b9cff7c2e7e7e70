"""The embedded AWS emulator: moto in server mode on 127.0.0.1, executing state machines, with our
extension of moto (`moto_ext`) installed."""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_contracts.logs import configure_logging
from mlops_devstack.processes import ChildProcess, ProcessFailed

if TYPE_CHECKING:
    from mlops_devstack.recorder import EmulatorControl

log = logging.getLogger(__name__)

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


# Executing state machines must be switched on (docs/decisions/0010-emulator.md).
EMULATOR_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}


class PortInUse(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on the port (connections in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class _EmulatorAddress:
    port: int
    region: str = "eu-west-1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self) -> EmulatorControl:
        """moto's seed and reset, our request recorder and its replay, over HTTP."""
        from mlops_devstack.recorder import EmulatorControl

        return EmulatorControl(self.port)

    def env(self) -> dict[str, str]:
        """What a process needs in its environment to talk to this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **FAKE_CREDENTIALS,
        }


class _MotoServer:
    """moto's server application (as its ThreadedMotoServer serves it) behind our recording
    middleware (`mlops_devstack.recorder`), in a thread of this process."""

    def __init__(self, ip_address: str, port: int) -> None:
        self._ip_address = ip_address
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from mlops_devstack.recorder import RecordingMiddleware

        app = RecordingMiddleware(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()


@dataclass
class Emulator(_EmulatorAddress):
    """moto's server in this process. Everything is in memory: a restart is empty. It listens on
    `bind_address`: loopback, except in the emulator's container image (docker-compose.yml)."""

    bind_address: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self._server: _MotoServer | None = None

    def start(self) -> Emulator:
        from mlops_devstack import moto_ext

        # Our one extension of moto (docs/decisions/0010-emulator.md); it refuses a moto it was not
        # written for.
        moto_ext.install()
        if not port_is_free(self.port):
            raise PortInUse(
                f"port {self.port} on 127.0.0.1 is taken: stop what uses it "
                f"(`lsof -i :{self.port}`) or choose another port with EMULATOR_PORT"
            )
        # The ASL interpreter calls the emulator back on localhost:$MOTO_PORT
        # (docs/decisions/0010-emulator.md).
        os.environ["MOTO_PORT"] = str(self.port)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = _MotoServer(self.bind_address, self.port)
        try:
            self._server.start()
        except OSError as exc:  # taken between the check and the bind
            self._server = None
            raise PortInUse(f"port {self.port} on 127.0.0.1 cannot be used ({exc}): choose another") from exc
        self._configure()
        log.info("AWS emulator on %s", self.endpoint)
        return self

    def _configure(self) -> None:
        body = json.dumps(EMULATOR_CONFIG)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request(
                "POST", "/moto-api/config", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                raise RuntimeError(f"emulator refused its configuration: HTTP {response.status}")
        finally:
            connection.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


_READY = "AWS emulator ready on"


@dataclass
class EmulatorProcess(_EmulatorAddress):
    """The emulator in a child process (`python -m mlops_devstack.emulator`): moto's state is global
    to a process, so this one is independent of any emulator of the current process."""

    def __post_init__(self) -> None:
        self._child: ChildProcess | None = None
        self._log = Path(tempfile.gettempdir()) / f"mlops-emulator-{self.port}.log"

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        if not port_is_free(self.port):
            raise PortInUse(f"port {self.port} on 127.0.0.1 is taken")
        child = ChildProcess.start(
            "the emulator process",
            [sys.executable, "-m", "mlops_devstack.emulator", "--port", str(self.port)],
            log=self._log,
        )
        self._child = child
        try:
            child.wait_until(lambda: _READY in child.output(), timeout=timeout, interval=0.05)
        except ProcessFailed as exc:
            self.stop()
            raise RuntimeError(str(exc)) from None
        return self

    @property
    def pid(self) -> int:
        """The child's process id (the fault tests pause it to stall the emulator)."""
        if self._child is None:
            raise RuntimeError("the emulator process is not running")
        return self._child.process.pid

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop(timeout=10)
            self._child = None


def main(argv: list[str] | None = None) -> int:
    """Run the emulator in the foreground until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m mlops_devstack.emulator", description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (0.0.0.0 in the emulator's container image, where other containers call it)",
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING", "text", stream=sys.stderr)  # a terminal's: warnings only
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator = Emulator(port=args.port, region=args.region, bind_address=args.host)
    try:
        emulator.start()
    except PortInUse as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{_READY} {emulator.endpoint}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
