"""Smoke checks: real HTTP against a revision's tag URL, before it gets any live traffic."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from console.config import SmokeCheck
from console.errors import VinconsoleError

MAX_REDIRECTS = 3
ID_TOKEN_ENV = "VINCONSOLE_ID_TOKEN"
SERVICE_ACCOUNT_ENV = "VINCONSOLE_SMOKE_SERVICE_ACCOUNT"
IAM_ENDPOINT_ENV = "VINCONSOLE_IAM_CREDENTIALS_ENDPOINT"  # tests point it at a loopback stub
IAM_CREDENTIALS_ENDPOINT = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"


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


class SmokeAuthError(VinconsoleError):
    """No usable ID token for a private service: an infrastructure error (exit 3), never a failed candidate."""


@dataclass(frozen=True)
class IdToken:
    token: str | None
    how: str  # where it came from, or why there is none (for messages)


def service_audience(url: str) -> str:
    """The service URL for a tag URL (`https://TAG---SERVICE-HASH.a.run.app` → `https://SERVICE-HASH.a.run.app`).

    Cloud Run's documented default audience is the service URL; whether a tag URL is accepted as
    an audience is not documented, so the token is always minted for the service URL.
    """
    parts = urlsplit(url)
    host = parts.netloc.split("---", 1)[-1]
    return f"{parts.scheme}://{host}"


def mint_id_token(audience: str, env: Mapping[str, str] | None = None) -> IdToken:
    """An ID token for `audience`, from the first source that has one:

    1. `$VINCONSOLE_ID_TOKEN` (CI: google-github-actions/auth with `token_format: id_token` and
       `id_token_audience` = the service URL);
    2. IAM Credentials `generateIdToken` as `$VINCONSOLE_SMOKE_SERVICE_ACCOUNT`, or as the service
       account the credentials already impersonate (Workload Identity Federation); needs
       roles/iam.serviceAccountTokenCreator on that account;
    3. a service-account key or the metadata server (they sign ID tokens themselves).

    `gcloud auth application-default login` credentials alone cannot mint one: token None, `how` says why.
    """
    env = os.environ if env is None else env
    given = env.get(ID_TOKEN_ENV, "").strip()
    if given:
        return IdToken(given, f"${ID_TOKEN_ENV}")
    try:
        import google.auth
        from google.auth import exceptions as auth_exceptions
    except ImportError:  # pragma: no cover - google-auth ships with the clients
        return IdToken(None, "google-auth is not installed")
    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except auth_exceptions.DefaultCredentialsError as exc:
        return IdToken(None, f"no Google credentials found ({str(exc).splitlines()[0]})")
    account = env.get(SERVICE_ACCOUNT_ENV, "").strip() or impersonated_account(credentials)
    source = getattr(credentials, "_source_credentials", None)
    if source is not None and account == getattr(credentials, "_target_principal", None):
        credentials = source  # `gcloud auth application-default login --impersonate-service-account`: mint as the user
    if account:
        endpoint = env.get(IAM_ENDPOINT_ENV, "").strip() or IAM_CREDENTIALS_ENDPOINT
        return IdToken(generate_id_token(credentials, account, audience, endpoint), f"generateIdToken as {account}")
    from google.auth import compute_engine
    from google.oauth2 import service_account

    kind = f"{type(credentials).__module__}.{type(credentials).__name__}"
    if isinstance(credentials, (service_account.Credentials, compute_engine.Credentials)):
        import google.auth.transport.requests
        from google.oauth2 import id_token

        try:
            return IdToken(id_token.fetch_id_token(google.auth.transport.requests.Request(), audience), kind)
        except auth_exceptions.GoogleAuthError as exc:
            raise SmokeAuthError(f"cannot mint an ID token for {audience} with {kind}: {exc}") from exc
    return IdToken(None, f"the credentials ({kind}) cannot mint ID tokens by themselves; set ${SERVICE_ACCOUNT_ENV}")


def impersonated_account(credentials: Any) -> str | None:
    """The service account the credentials impersonate (Workload Identity Federation, or ADC made
    with `--impersonate-service-account`), if any."""
    target = getattr(credentials, "_target_principal", None)
    if isinstance(target, str) and target:
        return target
    url = getattr(credentials, "service_account_impersonation_url", None) or getattr(
        credentials, "_service_account_impersonation_url", None
    )
    match = re.search(r"/serviceAccounts/([^/:]+):generateAccessToken", url or "")
    return match.group(1) if match else None


def generate_id_token(credentials: Any, account: str, audience: str, endpoint: str = IAM_CREDENTIALS_ENDPOINT) -> str:
    """IAM Credentials `projects/-/serviceAccounts/ACCOUNT:generateIdToken` with the caller's access token."""
    import google.auth.transport.requests
    from google.auth import exceptions as auth_exceptions

    try:
        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
    except auth_exceptions.GoogleAuthError as exc:
        raise SmokeAuthError(f"cannot get an access token to mint an ID token as {account}: {exc}") from exc
    url = f"{endpoint.rstrip('/')}/v1/projects/-/serviceAccounts/{account}:generateIdToken"
    try:
        response = httpx.post(
            url, json={"audience": audience, "includeEmail": True},
            headers={"Authorization": f"Bearer {credentials.token}"}, timeout=10.0,
        )
    except httpx.HTTPError as exc:
        raise SmokeAuthError(f"IAM Credentials generateIdToken ({url}) could not be reached: {exc}") from exc
    if response.status_code in (401, 403):
        raise SmokeAuthError(
            f"IAM Credentials refused to mint an ID token as {account} ({response.status_code}: {_api_message(response)}); "
            f"grant the identity running vinconsole {TOKEN_CREATOR} on {account}"
        )
    if response.status_code != 200 or "token" not in _json(response):
        raise SmokeAuthError(
            f"IAM Credentials generateIdToken as {account} failed ({response.status_code}: {_api_message(response)})"
        )
    return str(_json(response)["token"])


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _api_message(response: httpx.Response) -> str:
    error = _json(response).get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return response.text[:200] or response.reason_phrase


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
    audience: str | None = None,
) -> list[SmokeResult]:
    """Run `checks` against `base_url` (a tag URL); with `authenticate`, carry an ID token for
    `audience` (default: the service URL behind the tag URL).

    A private service answering 401/403 to a check that did not expect it is an authentication
    problem, not the candidate's: SmokeAuthError (exit 3) naming the role that is missing.
    """
    minted = mint_id_token(audience or service_audience(base_url)) if authenticate else IdToken(None, "")
    results = []
    with httpx.Client(follow_redirects=False) as client:
        for check in checks:
            result = run_check(client, base_url, check, minted.token)
            if authenticate and result.status in (401, 403) and check.expect_status not in (401, 403):
                raise SmokeAuthError(_refused(result, minted, audience or service_audience(base_url)))
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _refused(result: SmokeResult, minted: IdToken, audience: str) -> str:
    where = f"smoke check {result.name}: {result.url} answered {result.status}"
    if minted.token is None:
        return (f"{where} and no ID token could be minted ({minted.how}); set ${SERVICE_ACCOUNT_ENV} to a service "
                f"account on which the identity running vinconsole has {TOKEN_CREATOR}, or pass the CI auth action's "
                f"id_token (token_format: id_token, audience {audience}) as ${ID_TOKEN_ENV}. "
                "The candidate was not judged")
    return (f"{where} with an ID token ({minted.how}, audience {audience}); the token's identity needs "
            "roles/run.invoker on the service. The candidate was not judged")
