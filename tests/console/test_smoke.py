"""Smoke checks against a private service: ID tokens through IAM Credentials, or exit 3 — never a failed candidate.

A loopback HTTP server stands in for Google at its boundaries: the STS token exchange and IAM
Credentials (generateAccessToken, generateIdToken) that Workload Identity Federation credentials
and `generate_id_token` call, and a Cloud Run service that lets in only a bearer ID token minted
for its own URL. google-auth itself runs unchanged; no network.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from console.config import SmokeCheck
from console.smoke import (
    IAM_ENDPOINT_ENV,
    ID_TOKEN_ENV,
    SERVICE_ACCOUNT_ENV,
    TOKEN_CREATOR,
    SmokeAuthError,
    run_smoke,
    service_audience,
)

DEPLOYER = "deployer@vinsight-staging.iam.gserviceaccount.com"


class GoogleStub(ThreadingHTTPServer):
    """STS + IAM Credentials + one private Cloud Run service, on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refuse_id_tokens = False
        self.id_token_requests: list[dict] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: GoogleStub

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self._body()
        bearer = self.headers.get("authorization", "")
        if self.path == "/sts/token":  # Workload Identity Federation: OIDC token → federated access token
            assert b"subject_token=github-oidc-jwt" in body
            self._answer(200, {"access_token": "federated", "issued_token_type":
                               "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600})
        elif self.path == "/oauth/token":  # `gcloud auth application-default login` credentials refreshing
            self._answer(200, {"access_token": "user-access", "token_type": "Bearer", "expires_in": 3600})
        elif self.path.endswith(":generateAccessToken"):
            assert bearer == "Bearer federated"
            expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._answer(200, {"accessToken": "deployer-access", "expireTime": expires})
        elif self.path.endswith(":generateIdToken"):
            request = json.loads(body)
            self.server.id_token_requests.append({"path": self.path, "bearer": bearer, **request})
            if self.server.refuse_id_tokens:
                self._answer(403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                             "message": "Permission 'iam.serviceAccounts.getOpenIdToken' denied"}})
            else:
                self._answer(200, {"token": f"id-token-for:{request['audience']}"})
        else:
            self._answer(404, {})

    def do_GET(self) -> None:  # noqa: N802 - the private service: only its own audience gets in
        if self.headers.get("authorization") == "Bearer id-token-for:https://vinsight-backend-abc123-uc.a.run.app":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(403, {"error": "Forbidden: your client does not have permission"})


@pytest.fixture
def google() -> Iterator[GoogleStub]:
    server = GoogleStub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, google: GoogleStub) -> pytest.MonkeyPatch:
    for name in (ID_TOKEN_ENV, SERVICE_ACCOUNT_ENV, "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(IAM_ENDPOINT_ENV, google.url)
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # never the real metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    return monkeypatch


def workload_identity(tmp_path: Path, google: GoogleStub) -> Path:
    """What google-github-actions/auth writes for Workload Identity Federation with a service account."""
    oidc = tmp_path / "oidc-token"
    oidc.write_text("github-oidc-jwt")
    path = tmp_path / "wif.json"
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": "//iam.googleapis.com/locations/global/workloadIdentityPools/github/providers/github",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{google.url}/sts/token",
        "credential_source": {"file": str(oidc)},
        "service_account_impersonation_url": f"{google.url}/v1/projects/-/serviceAccounts/{DEPLOYER}:generateAccessToken",
    }))
    return path


def user_login(tmp_path: Path, google: GoogleStub) -> Path:
    """What `gcloud auth application-default login` writes."""
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "id", "client_secret": "secret",
                                "refresh_token": "refresh", "token_uri": f"{google.url}/oauth/token"}))
    return path


CHECKS = [SmokeCheck(name="health", path="/health")]
AUDIENCE = "https://vinsight-backend-abc123-uc.a.run.app"


def test_the_audience_is_the_service_url_behind_a_tag_url():
    assert service_audience("https://candidate---vinsight-backend-abc123-uc.a.run.app/health") == AUDIENCE
    assert service_audience(AUDIENCE) == AUDIENCE


def test_workload_identity_credentials_get_an_id_token_through_iam_credentials(env, google, tmp_path):
    env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(workload_identity(tmp_path, google)))
    results = run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE)
    assert [r.ok for r in results] == [True]
    [minted] = google.id_token_requests
    assert minted["path"] == f"/v1/projects/-/serviceAccounts/{DEPLOYER}:generateIdToken"
    assert minted["audience"] == AUDIENCE and minted["bearer"] == "Bearer deployer-access"


def test_a_refused_generate_id_token_is_exit_3_naming_the_role(env, google, tmp_path):
    env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(workload_identity(tmp_path, google)))
    google.refuse_id_tokens = True
    with pytest.raises(SmokeAuthError) as caught:
        run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE)
    assert caught.value.exit_code == 3
    assert TOKEN_CREATOR in str(caught.value) and DEPLOYER in str(caught.value)


def test_a_user_login_alone_gets_no_token_and_the_private_service_is_not_blamed(env, google, tmp_path):
    env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user_login(tmp_path, google)))
    results = []
    with pytest.raises(SmokeAuthError) as caught:
        run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE, on_result=results.append)
    assert results == []  # no failed check reported: the candidate is not judged
    message = str(caught.value)
    assert caught.value.exit_code == 3 and "403" in message and TOKEN_CREATOR in message and SERVICE_ACCOUNT_ENV in message


def test_the_named_smoke_service_account_is_the_one_impersonated(env, google, tmp_path):
    env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(workload_identity(tmp_path, google)))
    env.setenv(SERVICE_ACCOUNT_ENV, "smoke@vinsight-staging.iam.gserviceaccount.com")
    assert [r.ok for r in run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE)] == [True]
    [minted] = google.id_token_requests
    assert minted["path"] == "/v1/projects/-/serviceAccounts/smoke@vinsight-staging.iam.gserviceaccount.com:generateIdToken"


def test_the_ci_auth_actions_id_token_is_used_as_given(env, google, tmp_path):
    env.setenv(ID_TOKEN_ENV, f"id-token-for:{AUDIENCE}")
    assert [r.ok for r in run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE)] == [True]
    assert google.id_token_requests == []


def test_an_id_token_for_the_wrong_audience_is_exit_3_naming_the_invoker_role(env, google, tmp_path):
    env.setenv(ID_TOKEN_ENV, "id-token-for:https://elsewhere.a.run.app")
    with pytest.raises(SmokeAuthError, match="roles/run.invoker"):
        run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE)


def test_adc_made_with_impersonation_mints_as_the_source_for_the_target(env, google, tmp_path):
    """`gcloud auth application-default login --impersonate-service-account SA`: generateIdToken for SA,
    called with the source credentials (SA need not hold the token creator role on itself)."""
    from google import auth as google_auth
    from google.auth import impersonated_credentials

    env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(workload_identity(tmp_path, google)))
    source, _ = google_auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    target = "smoke@vinsight-staging.iam.gserviceaccount.com"
    adc = impersonated_credentials.Credentials(source_credentials=source, target_principal=target,
                                               target_scopes=["https://www.googleapis.com/auth/cloud-platform"])
    env.setattr(google_auth, "default", lambda scopes=None: (adc, None))
    assert [r.ok for r in run_smoke(google.url, CHECKS, authenticate=True, audience=AUDIENCE)] == [True]
    [minted] = google.id_token_requests
    assert minted["path"] == f"/v1/projects/-/serviceAccounts/{target}:generateIdToken"
    assert minted["bearer"] == "Bearer deployer-access"  # the source's token, not the target's
