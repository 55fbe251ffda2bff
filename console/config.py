"""The operator's config.toml: schema, validation and lookup.

Every mistake is reported as one `ConfigError` line naming the file, the key path and the
bad value, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_ENV = "VINCONSOLE_CONFIG"
METRIC_WINDOW_SECONDS = 60
# Cloud Run: a traffic tag plus the service name may be at most 46 characters.
MAX_TAG_PLUS_SERVICE = 46
# The tag a promote leaves on the revision it replaced (console/engine.py).
PREVIOUS_TAG = "previous"

Percent = Annotated[int, Field(ge=1, le=100)]


class ConfigError(Exception):
    """A config file that cannot be used; the message says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RolloutPace(_Strict):
    """`[environments.NAME.rollout]`: this environment's own pace, over `[rollout]` (e.g. a quicker
    staging). Only these keys; tags and the lease stay fleet-wide."""

    steps: list[Percent] | None = None
    bake_seconds: float | None = None
    logs_bake_seconds: float | None = None
    max_bake_seconds: float | None = None
    on_inconclusive: Literal["extend", "pause", "rollback"] | None = None


class Environment(_Strict):
    project: str = Field(min_length=1)
    region: str = Field(min_length=1)
    production: bool = False
    rollout: RolloutPace | None = None


class SmokeCheck(_Strict):
    name: str = Field(min_length=1)
    path: str = Field(pattern=r"^/")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_body: str | None = None
    latency_budget_ms: float = Field(default=2000, gt=0)
    timeout_seconds: float = Field(default=10, gt=0)


class Service(_Strict):
    environments: list[str] = Field(min_length=1)
    image: str = ""
    billing: Literal["request", "instance"] = "request"  # Cloud Run billing mode, for cost
    smoke: list[SmokeCheck] = []
    availability_target_percent: float = Field(default=99.5, gt=0, lt=100)
    latency_target_ms: float = Field(default=1000, gt=0)
    # Latency SLO: this percent of requests must finish under latency_target_ms (console/slo.py).
    latency_target_percent: float = Field(default=95.0, gt=0, lt=100)


class Rollout(_Strict):
    steps: list[Percent] = [10, 50, 100]
    bake_seconds: float = 300  # minimum bake of a step judged on Cloud Monitoring (covers its metric delay)
    logs_bake_seconds: float = Field(default=60, ge=10)  # ... judged on the request log (seconds behind)
    max_bake_seconds: float = 900
    # "extend" once then hold, "pause" (hold at once), or "rollback" (extend once, then roll back)
    on_inconclusive: Literal["extend", "pause", "rollback"] = "extend"
    candidate_tag: str = Field(default="candidate", pattern=r"^[a-z][a-z0-9-]{0,45}$")
    stable_tag: str = Field(default="stable", pattern=r"^[a-z][a-z0-9-]{0,45}$")
    lease_seconds: float = Field(default=120, ge=10)

    @field_validator("steps")
    @classmethod
    def _steps_rise_to_100(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("needs at least one step")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError("steps must rise strictly")
        if steps[-1] != 100:
            raise ValueError("the last step must be 100")
        return steps

    @field_validator("bake_seconds", "max_bake_seconds")
    @classmethod
    def _at_least_one_window(cls, seconds: float) -> float:
        if seconds < METRIC_WINDOW_SECONDS:
            raise ValueError(f"must be at least the {METRIC_WINDOW_SECONDS} s metric window")
        return seconds

    @model_validator(mode="after")
    def _max_not_below_min(self) -> Rollout:
        for key in ("bake_seconds", "logs_bake_seconds"):
            if self.max_bake_seconds < getattr(self, key):
                raise ValueError(
                    f"max_bake_seconds ({self.max_bake_seconds:g}) is below {key} ({getattr(self, key):g})"
                )
        return self


class Analysis(_Strict):
    window_seconds: int = Field(default=60, ge=METRIC_WINDOW_SECONDS)
    # Google's own latency example uses 240 s for Cloud Run metrics; 180 s left no margin.
    metric_delay_seconds: float = Field(default=240, ge=0)
    max_error_rate_increase_pp: float = Field(default=2.0, gt=0, le=100)
    max_error_rate_percent: float = Field(default=5.0, gt=0, le=100)
    max_error_rate_seconds: float = Field(default=120, ge=60)
    max_p95_ms: float = Field(default=5000, gt=0)
    min_requests: int = Field(default=200, ge=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    beta: float = Field(default=0.10, gt=0, lt=0.5)
    warmup_seconds: float = Field(default=120, ge=0)  # Monitoring: each step's first seconds, latency not judged
    # the request log: each instance's first seconds (cold starts), latency judged only on the hard p95 limit
    instance_warmup_seconds: float = Field(default=60, ge=0)
    # where per-revision counts come from: Cloud Run's request log (seconds behind), Cloud
    # Monitoring (minutes behind), or "auto": the log while it flows and agrees with Monitoring
    source: Literal["auto", "logs", "monitoring"] = "auto"
    # saturation (console/saturation.py): memory p95 over this percent of the limit is a warning in the
    # verdict; the fleet flags a cold-start share (container starts ÷ requests) over this percent
    memory_warning_percent: float = Field(default=90.0, gt=0, le=100)
    cold_start_warning_percent: float = Field(default=30.0, gt=0, le=100)
    # The judge's robustness (README "The judge"; defaults calibrated by bench/judge.py):
    tolerated_ratio: float = Field(default=1.25, ge=1, le=2)  # ψ0: candidate bad-rate ÷ stable's still "no change"
    window_evidence_cap: float = Field(default=1.5, gt=0, le=20)  # most one window adds to the 5xx ln LR
    latency_window_evidence_cap: float = Field(default=3.5, gt=0, le=20)  # ... to a latency metric's
    request_log_evidence_cap: float = Field(default=2.5, gt=0, le=20)  # ... 10 s of request log to the 5xx one
    tail_factor: float = Field(default=3.0, ge=1.5, le=20)  # tail = slower than this × the slow threshold

    @field_validator("window_seconds")
    @classmethod
    def _whole_minutes(cls, seconds: int) -> int:
        if seconds % 60:
            raise ValueError("must be a whole number of minutes (Cloud Monitoring aligns on 60 s)")
        return seconds


class Pricing(_Strict):
    vcpu_second: float = Field(default=0.000024, ge=0)
    gib_second: float = Field(default=0.0000025, ge=0)
    per_million_requests: float = Field(default=0.40, ge=0)
    instance_vcpu_second: float = Field(default=0.000018, ge=0)
    instance_gib_second: float = Field(default=0.000002, ge=0)


class Budget(_Strict):
    monthly_usd: float = Field(default=150.0, gt=0)
    alert_percents: list[Percent] = [50, 75, 90]
    candidate_cost_margin_percent: float = Field(default=10.0, ge=0)  # flag a candidate costlier per request by more


class Notifications(_Strict):
    webhook_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")


class Config(_Strict):
    environments: dict[str, Environment] = Field(min_length=1)
    services: dict[str, Service] = Field(min_length=1)
    rollout: Rollout = Rollout()
    analysis: Analysis = Analysis()
    pricing: Pricing = Pricing()
    budget: Budget = Budget()
    notifications: Notifications = Notifications()
    keys: dict[str, str] = {}

    @model_validator(mode="after")
    def _services_name_known_environments(self) -> Config:
        for name, service in self.services.items():
            for index, env in enumerate(service.environments):
                if env not in self.environments:
                    known = ", ".join(sorted(self.environments))
                    raise _KeyedError(
                        ("services", name, "environments", index),
                        env,
                        f"environment {env!r} is not defined under [environments] (defined: {known})",
                    )
        return self

    @model_validator(mode="after")
    def _paces_make_valid_rollouts(self) -> Config:
        for name in self.environments:
            try:
                self.rollout_for(name)
            except ValidationError as exc:
                error = exc.errors(include_url=False)[0]
                raise _KeyedError(  # a key of the pace, or the pace as a whole (max below min bake)
                    ("environments", name, "rollout", *error["loc"][:1]), error.get("input"),
                    error["msg"].removeprefix("Value error, "),
                ) from None
        return self

    @model_validator(mode="after")
    def _tags_fit_service_names(self) -> Config:
        """Cloud Run refuses a tag whose length plus the service name's exceeds 46 characters: check
        every tag the console writes (candidate, stable, and `previous` on promote) before any write."""
        for name, service in self.services.items():
            for env in service.environments:
                pace = self.environments[env].rollout if env in self.environments else None
                rollout = self.rollout_for(env)
                for key in ("candidate_tag", "stable_tag"):
                    tag = getattr(rollout, key)
                    if len(tag) + len(name) <= MAX_TAG_PLUS_SERVICE:
                        continue
                    from_pace = pace is not None and getattr(pace, key, None) is not None
                    loc = ("environments", env, "rollout", key) if from_pace else ("rollout", key)
                    raise _KeyedError(loc, tag, _tag_too_long(tag, name))
                if len(PREVIOUS_TAG) + len(name) > MAX_TAG_PLUS_SERVICE:
                    raise _KeyedError(("services", name), {}, _tag_too_long(PREVIOUS_TAG, name))
        return self

    def rollout_for(self, env: str) -> Rollout:
        """`[rollout]` with the environment's own pace over it (validated like `[rollout]` itself)."""
        pace = self.environments[env].rollout
        if pace is None:
            return self.rollout
        return Rollout.model_validate({**self.rollout.model_dump(), **pace.model_dump(exclude_none=True)})

    def targets(self, env: str | None = None, service: str | None = None) -> list[Target]:
        """Every (environment, service) pair the config describes, optionally narrowed."""
        if env is not None and env not in self.environments:
            raise ConfigError(f"unknown environment {env!r}; the config defines: {', '.join(self.environments)}")
        if service is not None and service not in self.services:
            raise ConfigError(f"unknown service {service!r}; the config defines: {', '.join(self.services)}")
        found = []
        for env_name, environment in self.environments.items():
            for svc_name, svc in self.services.items():
                if env_name in svc.environments and env in (None, env_name) and service in (None, svc_name):
                    found.append(Target(env_name, environment, svc_name, svc, self.rollout_for(env_name)))
        if not found:
            raise ConfigError(f"service {service!r} is not deployed to environment {env!r} in the config")
        return found


class Target:
    """One service in one environment: the unit the console acts on."""

    __slots__ = ("env", "environment", "service", "settings", "rollout")

    def __init__(self, env: str, environment: Environment, service: str, settings: Service, rollout: Rollout):
        self.env = env
        self.environment = environment
        self.service = service
        self.settings = settings
        self.rollout = rollout  # [rollout] with this environment's pace over it

    @property
    def project(self) -> str:
        return self.environment.project

    @property
    def region(self) -> str:
        return self.environment.region

    @property
    def key(self) -> str:
        return f"{self.env}/{self.service}"

    def __repr__(self) -> str:
        return f"Target({self.key})"


def _tag_too_long(tag: str, service: str) -> str:
    return (f"tag {tag!r} on service {service!r} is {len(tag) + len(service)} characters together; Cloud Run allows "
            f"at most {MAX_TAG_PLUS_SERVICE} (tag + service name): shorten the tag or the service name")


class _KeyedError(ValueError):
    """A cross-field error that knows the exact key path it concerns."""

    def __init__(self, loc: tuple, value: Any, message: str):
        super().__init__(message)
        self.loc = loc
        self.value = value
        self.message = message


DEMO_CONFIG = "demo_config.toml"  # package data: the VinSight fleet of the repository's config.toml
BUNDLED_FLEET = "the bundled demo fleet"


def user_config_path() -> Path:
    """Where `vinconsole init` writes and the lookup ends: the platform's user config dir
    (~/.config/vinconsole/config.toml on Linux, honouring XDG_CONFIG_HOME)."""
    from platformdirs import user_config_path as platform_config_dir

    return platform_config_dir("vinconsole", appauthor=False) / "config.toml"


def lookup_places(explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The places a config is looked for, in order, each with how it was chosen. `--config` or
    $VINCONSOLE_CONFIG name one file that must exist; otherwise ./config.toml, then the user's."""
    if explicit:
        return [("--config", Path(explicit))]
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return [(f"${CONFIG_ENV}", Path(from_env))]
    return [("the current directory", Path("config.toml")), ("the user config dir", user_config_path())]


def resolve_path(explicit: str | os.PathLike | None = None) -> Path | None:
    """The first place of `lookup_places` that holds a file, or None when none does (a named
    file that is missing is returned as it is, so the error names it)."""
    places = lookup_places(explicit)
    if len(places) == 1:
        return places[0][1]
    return next((path for _, path in places if path.is_file()), None)


def demo_config_text() -> str:
    """The bundled demo fleet (the repository's config.toml, shipped inside the package)."""
    from importlib.resources import files

    return files("console").joinpath(DEMO_CONFIG).read_text(encoding="utf-8")


def load_config(explicit: str | os.PathLike | None = None) -> Config:
    path = resolve_path(explicit)
    if path is None:
        looked = "; ".join(f"{where}: {path}" for where, path in lookup_places(explicit))
        raise ConfigError(
            f"no config file found (looked in {looked}); run `vinconsole init` to write one, "
            f"give --config FILE or set {CONFIG_ENV} — or try `vinconsole --demo`, which needs none"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (named by {lookup_places(explicit)[0][0]}; "
            f"fix the path, or run `vinconsole init` to write a starting config)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, str(path))


def load_demo_config(explicit: str | os.PathLike | None = None) -> tuple[Config, str]:
    """For `--demo` and `vinconsole emulator`: the operator's config when one is found, else the
    bundled demo fleet. Returns the config and where it came from (for the banner)."""
    path = resolve_path(explicit)
    if path is not None:
        return load_config(path), str(path)
    return parse_config(demo_config_text(), f"bundled {DEMO_CONFIG}"), BUNDLED_FLEET


def parse_config(text: str, source: str = "config.toml") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(source, data, exc)) from None


def _describe(source: str, data: dict, exc: ValidationError) -> str:
    """The first validation error as `file: key.path = value: what is wrong`."""
    error = exc.errors(include_url=False)[0]
    loc, message = tuple(error["loc"]), error["msg"]
    context = error.get("ctx", {}).get("error")
    if isinstance(context, _KeyedError):
        loc, message = loc + context.loc, context.message
        value: Any = context.value
    else:
        value = error.get("input")
        message = message.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; README.md lists every key)"
    elif error["type"] == "missing":
        return f"{source}: {_dotted(loc)}: missing (required)"
    if isinstance(value, dict):
        return f"{source}: [{_dotted(loc)}]: {message}"
    return f"{source}: {_dotted(loc)} = {_toml_value(value)}: {message}"


def _dotted(loc: tuple) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(part if part.replace("-", "").replace("_", "").isalnum() else f'"{part}"')
    return ".".join(parts)


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
