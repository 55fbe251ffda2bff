"""`vinconsole init`: write a commented starting config for the operator's own fleet.

Answers come from flags, or are asked for on a terminal. The file is validated by the same
parser every command uses before it is written, so what `init` writes always loads.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from console.config import parse_config, user_config_path
from console.errors import UsageError

DEFAULT_REGION = "us-central1"
SERVICE_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$")  # Cloud Run's rule for service names
ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Answers:
    projects: dict[str, str]  # environment → Google Cloud project id, in the order given
    region: str
    services: list[str]


def is_production(env: str) -> bool:
    return env.startswith("prod")


def parse_projects(pairs: list[str]) -> dict[str, str]:
    projects: dict[str, str] = {}
    for pair in pairs:
        env, sep, project = pair.partition("=")
        if not sep or not ENV_NAME.match(env) or not project.strip():
            raise UsageError(f"init: --project {pair!r}: give ENV=PROJECT, e.g. --project staging=my-app-staging")
        projects[env] = project.strip()
    return projects


def check_services(names: list[str]) -> list[str]:
    for name in names:
        if not SERVICE_NAME.match(name):
            raise UsageError(
                f"init: service {name!r}: a Cloud Run service name is lowercase letters, digits and hyphens, "
                "starting with a letter (as `gcloud run services list` shows it)"
            )
    return names


def ask(args: argparse.Namespace) -> Answers:
    """The flags' answers; what is missing is asked for on a terminal, refused elsewhere."""
    projects = parse_projects(args.project)
    services = check_services(args.service)
    region = args.region
    if projects and services:
        return Answers(projects, region or DEFAULT_REGION, services)
    if not sys.stdin.isatty():
        raise UsageError(
            "init: not on a terminal, so nothing can be asked: give --project ENV=PROJECT (repeat per environment, "
            "e.g. --project staging=my-app-staging --project production=my-app-prod) and --service NAME (repeated); "
            f"--region defaults to {DEFAULT_REGION}"
        )
    if not projects:
        for env in ("staging", "production"):
            project = input(f"Google Cloud project id for {env} (blank: no {env} environment): ").strip()
            if project:
                projects[env] = project
        if not projects:
            raise UsageError("init: no environment given; vinconsole needs at least one project")
    if region is None:
        region = input(f"Cloud Run region [{DEFAULT_REGION}]: ").strip() or DEFAULT_REGION
    if not services:
        typed = input("Cloud Run services to manage (names, comma-separated): ")
        services = check_services([name.strip() for name in typed.split(",") if name.strip()])
        if not services:
            raise UsageError("init: no service given; name at least one Cloud Run service")
    return Answers(projects, region, services)


def _key(name: str) -> str:
    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else json.dumps(name)


def render(answers: Answers) -> str:
    """The config text: the keys an operator changes first set, the rest commented with their defaults."""
    envs = list(answers.projects)
    lines = [
        "# vinconsole — your Cloud Run fleet. Written by `vinconsole init`; edit freely.",
        "# Every key and its default is listed in README.md (\"Config reference\").",
        "# vinconsole finds this file by itself; --config FILE or $VINCONSOLE_CONFIG choose another.",
        "",
    ]
    for env, project in answers.projects.items():
        lines += [
            f"[environments.{_key(env)}]",
            f"project = {json.dumps(project)}",
            f"region = {json.dumps(answers.region)}",
            "production = true          # traffic changes need the service name typed to confirm"
            if is_production(env) else "production = false",
            "",
        ]
    lines += [
        "[rollout]",
        "steps = [10, 50, 100]      # percent of traffic to the candidate, rising, ending at 100",
        "bake_seconds = 300         # minimum bake per step (covers Cloud Monitoring's metric delay)",
        "max_bake_seconds = 900     # no decision by then: the step is inconclusive",
        "# on_inconclusive = \"extend\" # or \"pause\" (wait for the operator)",
        "# candidate_tag = \"candidate\"  # the tag your deploy step gives a new revision (--no-traffic --tag)",
        "",
        "[analysis]",
        "# min_requests = 200       # candidate requests a step needs before it can pass",
        "# alpha = 0.05             # false-rollback bound per rollout",
        "",
        "[budget]",
        "monthly_usd = 150.0",
        "alert_percents = [50, 75, 90]",
        "",
        "# [notifications]",
        "# webhook_url_env = \"VINCONSOLE_WEBHOOK_URL\"   # env var holding a Slack-compatible webhook URL",
        "",
    ]
    for service in answers.services:
        key = _key(service)
        lines += [
            f"[services.{key}]",
            f"environments = {json.dumps(envs)}",
            f"# image = \"{answers.region}-docker.pkg.dev/PROJECT/REPOSITORY/{service}\"   # for --auto-promote --image",
            "# availability_target_percent = 99.5   # SLO: non-5xx share of requests",
            "# latency_target_ms = 1000",
            "",
            f"#  [[services.{key}.smoke]]   # checked on the candidate's tag URL before it gets traffic",
            "#  name = \"health\"",
            "#  path = \"/health\"",
            "#  expect_status = 200",
            "",
        ]
    return "\n".join(lines)


def cmd_init(args: argparse.Namespace) -> int:
    explicit = getattr(args, "config", None)
    path = Path(explicit) if explicit else user_config_path()
    if path.exists() and not args.force:
        raise UsageError(f"init: {path} already exists; edit it, or pass --force to replace it")
    answers = ask(args)
    text = render(answers)
    parse_config(text, str(path))  # what init writes must load; a ConfigError here names the bad answer
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    envs = ", ".join(f"{env} → {project}" for env, project in answers.projects.items())
    found = (f"pass --config {path} (or set $VINCONSOLE_CONFIG)" if explicit
             else "every command finds it there unless ./config.toml or --config says otherwise")
    print(f"wrote {path}: {len(answers.projects)} environment(s) ({envs}), region {answers.region}, "
          f"service(s) {', '.join(answers.services)}; {found}.")
    print("next: `vinconsole status` (needs `gcloud auth application-default login`), "
          "then set smoke checks and the budget in that file")
    return 0
