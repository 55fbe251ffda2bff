"""Smoke checks: real HTTP against a revision's tag URL, before it gets any live traffic."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from console.config import SmokeCheck

MAX_REDIRECTS = 3


@dataclass(frozen=True)
class SmokeResult:
    name: str
    ok: bool
    status: int | None
    latency_ms: float | None
    error: str | None
    url: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.ok:
            return f"✓ {self.name}: {self.status} in {self.latency_ms:.0f} ms"
        return f"✗ {self.name}: {self.error}"


def id_token_for(audience: str) -> str | None:
    """An ID token for Cloud Run services that require authentication (None when unavailable)."""
    try:
        import google.auth.transport.requests
        from google.oauth2 import id_token

        return id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)
    except Exception:  # noqa: BLE001 - a public service needs no token; a private one will answer 401/403
        return None


def run_check(client: httpx.Client, base_url: str, check: SmokeCheck, token: str | None = None) -> SmokeResult:
    url = base_url.rstrip("/") + check.path
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    host = urlsplit(url).netloc
    started = time.perf_counter()
    try:
        response = client.request(check.method, url, headers=headers, timeout=check.timeout_seconds)
        for _ in range(MAX_REDIRECTS):
            if not response.is_redirect:
                break
            target = urljoin(url, response.headers.get("location", ""))
            if urlsplit(target).netloc != host:
                return SmokeResult(check.name, False, response.status_code, None, f"redirected to another host: {target}", url)
            response = client.request(check.method, target, headers=headers, timeout=check.timeout_seconds)
    except httpx.TimeoutException:
        return SmokeResult(check.name, False, None, None, f"no answer within {check.timeout_seconds:g} s from {url}", url)
    except httpx.HTTPError as exc:
        return SmokeResult(check.name, False, None, None, f"{type(exc).__name__} from {url}: {exc}", url)
    latency_ms = (time.perf_counter() - started) * 1000
    if response.status_code != check.expect_status:
        return SmokeResult(
            check.name, False, response.status_code, latency_ms,
            f"status {response.status_code}, expected {check.expect_status} ({url})", url,
        )
    if check.expect_body and check.expect_body not in response.text:
        return SmokeResult(
            check.name, False, response.status_code, latency_ms, f"body does not contain {check.expect_body!r} ({url})", url
        )
    if latency_ms > check.latency_budget_ms:
        return SmokeResult(
            check.name, False, response.status_code, latency_ms,
            f"answered in {latency_ms:.0f} ms, budget {check.latency_budget_ms:.0f} ms ({url})", url,
        )
    return SmokeResult(check.name, True, response.status_code, latency_ms, None, url)


def run_smoke(
    base_url: str,
    checks: Sequence[SmokeCheck],
    *,
    authenticate: bool = False,
    on_result: Callable[[SmokeResult], None] | None = None,
) -> list[SmokeResult]:
    token = id_token_for(base_url) if authenticate else None
    results = []
    with httpx.Client(follow_redirects=False) as client:
        for check in checks:
            result = run_check(client, base_url, check, token)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
