"""The emulator server: one gRPC port for Cloud Run, Monitoring and Logging, plus fault injection.

    with Emulator(load_config("config.toml"), scenario="regression") as emu:
        clients = Clients(emulator_host=emu.address)
        ...

Every handler (Cloud Run's, Monitoring's, Logging's) goes through one fault wrapper: faults
injected with `inject_fault()` and the `flaky-api` scenario's random faults (seeded) make a
call fail with a real gRPC status before the handler runs, so nothing changes.
"""

from __future__ import annotations

import random
import shlex
import signal
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO

import grpc

from console.clock import Clock
from console.emulator.fleet import SCENARIO_SPECS, Fleet
from console.emulator.http import HttpFront
from console.emulator.run_api import RunApi

if TYPE_CHECKING:  # pragma: no cover
    from console.config import Config

SCENARIOS: tuple[str, ...] = tuple(SCENARIO_SPECS)

FAULT_CODES = {
    "UNAVAILABLE": (grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable."),
    "DEADLINE_EXCEEDED": (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded while processing the request."),
    "RESOURCE_EXHAUSTED": (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.",
    ),
    "PERMISSION_DENIED": (grpc.StatusCode.PERMISSION_DENIED, "The caller does not have permission."),
    "ABORTED": (grpc.StatusCode.ABORTED, "etag mismatch: the service was modified; re-read it"),
}


class _Faults:
    """Which calls fail: queued injected faults first, then the scenario's random rates."""

    def __init__(self, fleet: Fleet):
        self._lock = threading.Lock()
        self._queued: dict[str, deque[str]] = {}
        self._rates = fleet.spec.faults
        self._rng = random.Random(f"faults/{fleet.seed}")
        self.calls: dict[str, int] = {}

    def inject(self, method: str, code: str, times: int = 1) -> None:
        code = code.upper()
        if code not in FAULT_CODES:
            raise ValueError(f"unknown fault code {code!r}; known: {', '.join(FAULT_CODES)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        with self._lock:
            self._queued.setdefault(method, deque()).extend([code] * times)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()

    def next_fault(self, method: str) -> str | None:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            queue = self._queued.get(method)
            if queue:
                return queue.popleft()
            for rate in self._rates:
                if rate.method in ("*", method) and self._rng.random() < rate.probability:
                    return rate.code
            return None

    def wrap(self, handler: grpc.GenericRpcHandler) -> grpc.GenericRpcHandler:
        return _FaultyHandler(handler, self)


class _FaultyHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, faults: _Faults):
        self._inner = inner
        self._faults = faults

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        faults = self._faults

        def check(context: grpc.ServicerContext) -> None:
            code = faults.next_fault(method)
            if code is not None:
                status, message = FAULT_CODES[code]
                context.abort(status, f"{message} (emulator: injected {code} for {method})")

        def unary_result(fn: Any) -> Any:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                check(context)
                return fn(request, context)

            return wrapped

        def streaming_result(fn: Any) -> Any:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                check(context)
                yield from fn(request, context)

            return wrapped

        replacements = {}
        for kind in ("unary_unary", "stream_unary"):
            if getattr(handler, kind, None) is not None:
                replacements[kind] = unary_result(getattr(handler, kind))
        for kind in ("unary_stream", "stream_stream"):
            if getattr(handler, kind, None) is not None:
                replacements[kind] = streaming_result(getattr(handler, kind))
        return handler._replace(**replacements)


class _FallbackLogStore:
    """Stands in for logging_api.LogStore when that module is not there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[Any] = []

    def write(self, entries: Any) -> None:
        with self._lock:
            self.entries.extend(entries)


class Emulator:
    """Cloud Run Admin v2, Monitoring v3 and Logging v2 for the fleet in `config`, on one port."""

    def __init__(
        self,
        config: Config,
        scenario: str = "healthy",
        clock: Clock | None = None,
        port: int = 0,
        seed: int = 0,
        history: bool = True,
        request_logs: bool = True,
    ):
        """`history`: seed 30 days of past audit entries (console/emulator/history_seed.py), so that
        history and DORA have data; tests that count audit entries start without it.
        `request_logs=False`: no Cloud Run request log, as in a project that excludes it."""
        if scenario not in SCENARIO_SPECS:
            raise ValueError(f"unknown scenario {scenario!r}; known scenarios: {', '.join(SCENARIOS)}")
        self.config = config
        self.scenario = scenario
        self.clock = clock if clock is not None else Clock.from_env()
        self.port = port
        self.seed = seed
        self.request_logs = request_logs
        self.fleet = Fleet(config, scenario, self.clock, seed)
        self.http = HttpFront(self.fleet)
        self.run_api = RunApi(self.fleet, self.http)
        self.faults = _Faults(self.fleet)
        self.traffic: Any = None
        self.logs: Any = None
        self.log_quotas: Any = None  # logging_api.LogQuotas: Cloud Logging's read quota and tail limit
        self._extra_handlers: list[grpc.GenericRpcHandler] = []
        self._build_e2_parts()
        if history:
            from console.emulator.history_seed import seed_history

            seed_history(self.fleet, self.logs)
        self._server: grpc.Server | None = None
        self.address: str | None = None

    def _build_e2_parts(self) -> None:
        """Traffic, the log store, Monitoring and Logging (when their modules are present)."""
        try:
            from console.emulator.traffic import Traffic
        except ImportError:
            pass  # no traffic module: self.traffic stays None
        else:
            self.traffic = Traffic(self.fleet)
        try:
            from console.emulator import logging_api
        except ImportError:
            logging_api = None  # type: ignore[assignment]
        self.logs = logging_api.LogStore() if logging_api is not None else _FallbackLogStore()
        if self.traffic is None:
            return
        try:
            from console.emulator import monitoring_api
        except ImportError:
            monitoring_api = None  # type: ignore[assignment]
        if monitoring_api is not None:
            self._extra_handlers.extend(monitoring_api.handlers(self.fleet, self.traffic))
        if logging_api is not None:
            self.log_quotas = logging_api.LogQuotas(self.clock)
            self._extra_handlers.extend(
                logging_api.handlers(self.fleet, self.logs, self.traffic, self.log_quotas, self.request_logs)
            )

    def inject_fault(self, method: str, code: str, times: int = 1) -> None:
        """The next `times` calls of `method` (e.g. "UpdateService", "ListTimeSeries") fail with `code`."""
        self.faults.inject(method, code, times)

    def hold_operations(self, seconds: float) -> None:
        """UpdateService operations started from now on stay running for `seconds` of clock time,
        past a client's wait (0 stops holding); the updates themselves are applied as usual."""
        self.run_api.hold_operations_seconds = max(0.0, seconds)

    def start(self) -> str:
        if self._server is not None:
            assert self.address is not None
            return self.address
        server = grpc.server(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="emulator-grpc"),
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        handlers = [*self.run_api.handlers(), *self._extra_handlers]
        server.add_generic_rpc_handlers(tuple(self.faults.wrap(h) for h in handlers))
        try:
            port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        except RuntimeError as exc:
            raise OSError(f"the emulator cannot listen on 127.0.0.1:{self.port}: {exc}") from None
        if not port:
            raise OSError(f"the emulator cannot listen on 127.0.0.1:{self.port} (is the port in use?)")
        server.start()
        for part in (self.traffic, self.logs):
            starter = getattr(part, "start", None)
            if callable(starter):
                starter()
        self._server = server
        self.address = f"127.0.0.1:{port}"
        return self.address

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=0.5).wait(5)
        for part in (self.traffic, self.logs):
            stopper = getattr(part, "stop", None)
            if callable(stopper):
                stopper()
        self.http.stop()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _scale_text(clock: Clock) -> str:
    return f"time ×{clock.scale:g}"


def run_forever(
    config: Config,
    scenario: str = "healthy",
    port: int = 0,
    clock: Clock | None = None,
    out: TextIO | None = None,
    *,
    stop: threading.Event | None = None,
    request_logs: bool = True,
) -> int:
    """Run the emulator in the foreground until SIGINT/SIGTERM; print where it listens. Returns 0.

    `stop` (optional) ends it too: for running it in a thread (tests).
    """
    out = sys.stdout if out is None else out
    clock = clock if clock is not None else Clock.from_env()
    emulator = Emulator(config, scenario=scenario, clock=clock, port=port, request_logs=request_logs)
    address = emulator.start()
    stop = stop if stop is not None else threading.Event()
    previous: dict[signal.Signals, Any] = {}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        env = {"VINCONSOLE_EMULATOR_HOST": address}
        try:
            env.update(clock.environ())
        except RuntimeError:  # a ManualClock cannot be shared
            pass
        request_logs_text = "" if request_logs else ", request logs off"
        print(f"vinconsole emulator listening on {address} (scenario {scenario}, {_scale_text(clock)}{request_logs_text})", file=out)
        print("export " + " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items()), file=out)
        out.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emulator.stop()
    return 0
