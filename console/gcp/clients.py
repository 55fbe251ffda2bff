"""Building the Google clients, and turning their failures into typed errors.

The three Google packages cost ~0.7 s to import, so nothing here imports them at module
level: `vinconsole --help` and the TUI's first paint must not wait for them.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from console.errors import (
    ApiError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)

if TYPE_CHECKING:  # pragma: no cover
    from google.cloud import monitoring_v3, run_v2
    from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client

EMULATOR_HOST_ENV = "VINCONSOLE_EMULATOR_HOST"

T = TypeVar("T")

# How long one attempt of a call may take, and how long all its retries may take, in real
# seconds. A UI never waits on a library default.
READ_TIMEOUT = 10.0
WRITE_TIMEOUT = 30.0
RETRY_DEADLINE = 20.0
# Screens re-read every few seconds anyway: they give up sooner, so an unreachable API shows
# in the status line within seconds instead of after the engine's patience.
VIEW_READ_TIMEOUT = 5.0
VIEW_RETRY_DEADLINE = 4.0


def quiet_grpc() -> None:
    """gRPC's C core prints to stderr unless told otherwise; that would tear a TUI."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")


class _Connections:
    """The API clients and the emulator channel, shared by every patience of one Clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.made: dict[str, Any] = {}
        self.channel: Any = None
        self.state: dict[str, Any] = {}  # per-process helpers keyed by name (log read budgets, tail hubs)
        self.state_lock = threading.RLock()


class Clients:
    """One set of Google API clients: against real Google Cloud, or an emulator address.

    Clients are created on first use, once, and are safe to share between threads.
    ``read_timeout`` bounds one attempt of a read, ``retry_deadline`` all its retries.
    """

    def __init__(
        self,
        emulator_host: str | None = None,
        retry_deadline: float = RETRY_DEADLINE,
        read_timeout: float = READ_TIMEOUT,
        *,
        _connections: _Connections | None = None,
    ):
        self.emulator_host = emulator_host
        self.retry_deadline = retry_deadline
        self.read_timeout = read_timeout
        self._shared = _connections or _Connections()

    def for_views(self) -> Clients:
        """The same clients and connections, with the short patience of a screen's reads."""
        return Clients(self.emulator_host, VIEW_RETRY_DEADLINE, VIEW_READ_TIMEOUT, _connections=self._shared)

    @classmethod
    def from_env(cls) -> Clients:
        return cls(os.environ.get(EMULATOR_HOST_ENV) or None)

    @property
    def target(self) -> str:
        return f"emulator at {self.emulator_host}" if self.emulator_host else "Google Cloud"

    def _insecure_channel(self) -> Any:
        import grpc

        if self._shared.channel is None:
            self._shared.channel = grpc.insecure_channel(
                self.emulator_host,
                options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
            )
        return self._shared.channel

    def _client(self, name: str, build: Callable[[], Any]) -> Any:
        shared = self._shared
        with shared.lock:
            if name not in shared.made:
                quiet_grpc()
                shared.made[name] = build()
            return shared.made[name]

    @property
    def services(self) -> run_v2.ServicesClient:
        def build() -> Any:
            from google.cloud import run_v2
            from google.cloud.run_v2.services.services.transports import ServicesGrpcTransport

            if self.emulator_host:
                return run_v2.ServicesClient(transport=ServicesGrpcTransport(channel=self._insecure_channel()))
            return run_v2.ServicesClient(transport="grpc")

        return self._client("services", build)

    @property
    def revisions(self) -> run_v2.RevisionsClient:
        def build() -> Any:
            from google.cloud import run_v2
            from google.cloud.run_v2.services.revisions.transports import RevisionsGrpcTransport

            if self.emulator_host:
                return run_v2.RevisionsClient(transport=RevisionsGrpcTransport(channel=self._insecure_channel()))
            return run_v2.RevisionsClient(transport="grpc")

        return self._client("revisions", build)

    @property
    def metrics(self) -> monitoring_v3.MetricServiceClient:
        def build() -> Any:
            from google.cloud import monitoring_v3
            from google.cloud.monitoring_v3.services.metric_service.transports import (
                MetricServiceGrpcTransport,
            )

            if self.emulator_host:
                return monitoring_v3.MetricServiceClient(
                    transport=MetricServiceGrpcTransport(channel=self._insecure_channel())
                )
            return monitoring_v3.MetricServiceClient()

        return self._client("metrics", build)

    @property
    def logging(self) -> LoggingServiceV2Client:
        def build() -> Any:
            from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
            from google.cloud.logging_v2.services.logging_service_v2.transports import (
                LoggingServiceV2GrpcTransport,
            )

            if self.emulator_host:
                return LoggingServiceV2Client(
                    transport=LoggingServiceV2GrpcTransport(channel=self._insecure_channel())
                )
            return LoggingServiceV2Client()

        return self._client("logging", build)

    @property
    def shared_lock(self) -> threading.RLock:
        return self._shared.state_lock

    def shared_state(self, name: str, make: Callable[[], T]) -> T:
        """One object per name for every Clients on these connections (e.g. the log read budgets)."""
        with self._shared.state_lock:
            if name not in self._shared.state:
                self._shared.state[name] = make()
            return self._shared.state[name]

    def retry(self) -> Any:
        """The retry policy for idempotent calls on these clients."""
        return read_retry(self.retry_deadline)

    def close(self) -> None:
        shared = self._shared
        with shared.lock:
            for client in shared.made.values():
                try:
                    client.transport.close()
                except Exception:  # closing is best effort
                    pass
            shared.made.clear()
            if shared.channel is not None:
                shared.channel.close()
                shared.channel = None


def read_retry(deadline: float = RETRY_DEADLINE) -> Any:
    """Retry transient failures of idempotent calls with exponential backoff."""
    from google.api_core import exceptions, retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.ServiceUnavailable,
            exceptions.DeadlineExceeded,
            exceptions.ResourceExhausted,
            exceptions.InternalServerError,
        ),
        initial=0.2,
        maximum=3.0,
        multiplier=2.0,
        timeout=deadline,
    )


# The code of an UnavailableError for a long-running operation still running when we stopped waiting.
OPERATION_TIMEOUT = "OPERATION_TIMEOUT"

_HINTS = {
    OPERATION_TIMEOUT: "it may still finish: re-read the service (`vinconsole status`) before acting again",
    "ALREADY_EXISTS": "the service's template names an existing revision with different settings; "
    "deploy without a revision name (or a new one)",
    "PERMISSION_DENIED": "check that the credentials have the roles README.md lists "
    "(run.developer, iam.serviceAccountUser on the service's runtime account, monitoring.viewer, logging.viewer, "
    "logging.logWriter)",
    "UNAUTHENTICATED": "run `gcloud auth application-default login`, or set VINCONSOLE_EMULATOR_HOST for the emulator",
    "NOT_FOUND": "check the project, region and service name in config.toml",
    "UNAVAILABLE": "the API could not be reached; check the network (or that the emulator is running) and try again",
    "DEADLINE_EXCEEDED": "the API did not answer in time; try again",
    "RESOURCE_EXHAUSTED": "quota exhausted; wait a minute and try again",
    "ABORTED": "somebody else changed the service meanwhile; re-read it and try again",
    "FAILED_PRECONDITION": "somebody else changed the service meanwhile; re-read it and try again",
    "INVALID_ARGUMENT": "the request was refused as invalid",
}


def api_error(call: str, exc: BaseException) -> ApiError:
    """A typed ApiError for a google.api_core exception (or any transport failure)."""
    from google.api_core import exceptions

    if isinstance(exc, exceptions.RetryError):
        cause = exc.cause or exc
        detail = getattr(cause, "message", None) or str(cause)
        return UnavailableError(call, "RETRIES_EXHAUSTED", f"gave up after retrying: {detail}", _HINTS["UNAVAILABLE"])
    if isinstance(exc, exceptions.GoogleAPICallError):
        code = exc.grpc_status_code.name if exc.grpc_status_code is not None else type(exc).__name__
        detail = exc.message or str(exc)
        hint = _HINTS.get(code, "")
        if isinstance(exc, (exceptions.Aborted, exceptions.FailedPrecondition)):
            return ConflictError(call, code, detail, hint)
        if isinstance(exc, exceptions.NotFound):
            return NotFoundError(call, code, detail, hint)
        if isinstance(exc, (exceptions.PermissionDenied, exceptions.Unauthenticated)):
            return PermissionDeniedError(call, code, detail, hint)
        if isinstance(exc, (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.ResourceExhausted)):
            return UnavailableError(call, code, detail, hint)
        return ApiError(call, code, detail, hint)
    try:
        from google.auth import exceptions as auth_exceptions

        if isinstance(exc, auth_exceptions.DefaultCredentialsError):
            return PermissionDeniedError(call, "NO_CREDENTIALS", str(exc).splitlines()[0], _HINTS["UNAUTHENTICATED"])
    except ImportError:  # pragma: no cover - google-auth ships with the clients
        pass
    return ApiError(call, type(exc).__name__, str(exc))


def guarded(call: str, fn: Callable[[], T]) -> T:
    """Run one API call; any Google failure comes out as a typed ApiError naming `call`.

    A long-running operation that outlives its wait raises concurrent.futures.TimeoutError
    (api_core/future/polling.py): it becomes UnavailableError OPERATION_TIMEOUT, so that callers
    re-read and verify as after any lost answer instead of skipping their verify and rollback.
    """
    from google.api_core import exceptions

    try:
        return fn()
    except ApiError:
        raise
    except concurrent.futures.TimeoutError as exc:
        raise UnavailableError(
            call, OPERATION_TIMEOUT, f"the operation did not finish in time ({exc})", _HINTS[OPERATION_TIMEOUT]
        ) from exc
    except (exceptions.GoogleAPIError, Exception) as exc:  # noqa: BLE001 - re-raised typed
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        if not _is_google_failure(exc):
            raise
        raise api_error(call, exc) from exc


def _is_google_failure(exc: BaseException) -> bool:
    from google.api_core import exceptions

    if isinstance(exc, exceptions.GoogleAPIError):
        return True
    module = type(exc).__module__
    return module.startswith(("google.auth", "grpc"))
