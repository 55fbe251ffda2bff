import subprocess
import sys
from pathlib import Path

import pytest

from console.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (REPO / "config.toml").read_text()


def test_shipped_config_describes_the_vinsight_fleet():
    config = load_config(REPO / "config.toml")
    keys = [t.key for t in config.targets()]
    assert keys == [
        "staging/vinsight-backend",
        "staging/vinsight-frontend",
        "production/vinsight-backend",
        "production/vinsight-frontend",
    ]
    assert config.rollout.steps == [10, 50, 100]
    assert config.analysis.max_error_rate_increase_pp == 2.0
    assert config.analysis.max_error_rate_percent == 5.0
    assert config.analysis.max_error_rate_seconds == 120
    assert config.analysis.max_p95_ms == 5000
    assert config.pricing.vcpu_second == 0.000024
    assert config.environments["production"].production is True
    assert config.services["vinsight-backend"].smoke[0].path == "/health"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("min_requests = 200", "min_requestz = 200", "analysis.min_requestz = 200: unknown key"),
        ("min_requests = 200", 'min_requests = "many"', 'analysis.min_requests = "many": Input should be a valid integer'),
        ("steps = [10, 50, 100]", "steps = [50, 10, 100]", "rollout.steps = [50, 10, 100]: steps must rise"),
        ("steps = [10, 50, 100]", "steps = [10, 50]", "rollout.steps = [10, 50]: the last step must be 100"),
        ("steps = [10, 50, 100]", "steps = [0, 50, 100]", "rollout.steps[0] = 0: Input should be greater than or equal to 1"),
        ("steps = [10, 50, 100]", "steps = [10, 50, 120]", "rollout.steps[2] = 120: Input should be less than or equal to 100"),
        ("bake_seconds = 300 ", "bake_seconds = 30 ", "rollout.bake_seconds = 30: must be at least the 60 s metric window"),
        (
            'environments = ["staging", "production"]\nimage = "us-central1-docker.pkg.dev/vinsight/app/backend"',
            'environments = ["staging", "prod"]\nimage = "x"',
            "services.vinsight-backend.environments[1] = \"prod\": environment 'prod' is not defined",
        ),
        ("production = false", 'production = "no"', 'environments.staging.production = "no": Input should be a valid boolean'),
        (
            "steps = [50, 100]\n",
            "steps = [50, 90]\n",
            "environments.staging.rollout.steps = [50, 90]: the last step must be 100",
        ),
        (
            "steps = [50, 100]\n",
            "steps = [50, 100]\nbake_seconds = 2000\n",
            "[environments.staging.rollout]: max_bake_seconds (900) is below bake_seconds (2000)",
        ),
        (
            "steps = [50, 100]\n",
            'steps = [50, 100]\nstable_tag = "x"\n',
            'environments.staging.rollout.stable_tag = "x": unknown key',
        ),
    ],
)
def test_each_mistake_is_one_line_naming_file_key_and_value(old, new, expected):
    assert old in SHIPPED
    with pytest.raises(ConfigError) as caught:
        parse_config(SHIPPED.replace(old, new, 1), "fleet.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("fleet.toml: ")
    assert expected in message


def test_broken_toml_names_the_file():
    with pytest.raises(ConfigError, match=r"^x.toml: not valid TOML"):
        parse_config("[rollout\nsteps = 1", "x.toml")


def test_missing_file_says_how_to_choose_one(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.toml: no such config file \(named by --config; .*vinconsole init"):
        load_config(tmp_path / "nope.toml")


def test_config_from_env_var(tmp_path, monkeypatch):
    path = tmp_path / "other.toml"
    path.write_text(SHIPPED.replace('project = "vinsight-staging"', 'project = "elsewhere"'))
    monkeypatch.setenv("VINCONSOLE_CONFIG", str(path))
    assert load_config().environments["staging"].project == "elsewhere"


def test_unknown_target_is_refused():
    config = load_config(REPO / "config.toml")
    with pytest.raises(ConfigError, match="unknown environment 'dev'"):
        config.targets("dev")


def test_cli_exits_2_with_one_line_for_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SHIPPED.replace("steps = [10, 50, 100]", "steps = [10, 50]"))
    result = subprocess.run(
        [sys.executable, "-m", "console", "status", "--config", str(path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert f"{path}: rollout.steps = [10, 50]: the last step must be 100" in result.stderr


def test_an_environment_can_have_its_own_pace():
    shipped = parse_config(SHIPPED).targets("staging", "vinsight-backend")[0].rollout
    assert shipped.steps == [50, 100]  # the shipped staging: a few req/s, the lead time under 10 min
    config = parse_config(SHIPPED.replace("steps = [50, 100]\n", "steps = [50, 100]\nbake_seconds = 120\n", 1))
    staging = config.targets("staging", "vinsight-backend")[0].rollout
    production = config.targets("production", "vinsight-backend")[0].rollout
    assert (staging.steps, staging.bake_seconds, staging.max_bake_seconds) == ([50, 100], 120, 900)  # the rest from [rollout]
    assert (production.steps, production.bake_seconds) == ([10, 50, 100], 300)
    assert staging.stable_tag == production.stable_tag == config.rollout.stable_tag


def test_a_tag_too_long_for_its_service_is_refused_naming_file_key_and_value():
    import pytest

    from console.config import ConfigError, parse_config

    base = (Path(__file__).parents[2] / "config.toml").read_text()
    long_tag = "candidate-for-the-quarterly-release"  # 35 + len("vinsight-frontend") = 52
    text = base.replace('candidate_tag = "candidate"', f'candidate_tag = "{long_tag}"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "ops.toml")
    message = str(caught.value)
    assert message.startswith(f'ops.toml: rollout.candidate_tag = "{long_tag}"')
    assert "46" in message and "vinsight-" in message


def test_previous_is_checked_against_every_service_name():
    import pytest

    from console.config import ConfigError, parse_config

    base = (Path(__file__).parents[2] / "config.toml").read_text()
    name = "vinsight-backend-with-a-longer-name-x12"  # 39 + len("previous") = 47; "cand" and "stable" fit
    text = base.replace("services.vinsight-backend", f"services.{name}").replace('candidate_tag = "candidate"', 'candidate_tag = "cand"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "ops.toml")
    assert str(caught.value).startswith(f"ops.toml: [services.{name}]: tag 'previous' on service '{name}' is 47 characters")


def test_metric_delay_default_is_googles_example():
    from console.config import Analysis

    assert Analysis().metric_delay_seconds == 240
def test_lookup_ends_in_the_user_config_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("VINCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_config()
    message = str(error.value)
    assert "config.toml" in message and str(tmp_path / "xdg" / "vinconsole" / "config.toml") in message
    assert "vinconsole init" in message
    user = tmp_path / "xdg" / "vinconsole" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(SHIPPED.replace('project = "vinsight-staging"', 'project = "from-user-dir"'))
    assert load_config().environments["staging"].project == "from-user-dir"
    (tmp_path / "config.toml").write_text(SHIPPED.replace('project = "vinsight-staging"', 'project = "from-cwd"'))
    assert load_config().environments["staging"].project == "from-cwd"  # ./config.toml comes first


def test_the_bundled_demo_fleet_is_the_repository_config():
    from console.config import demo_config_text, load_demo_config

    assert demo_config_text() == SHIPPED
    _, source = load_demo_config(REPO / "config.toml")
    assert source == str(REPO / "config.toml")


def test_demo_without_any_config_uses_the_bundled_fleet(tmp_path, monkeypatch):
    from console.config import BUNDLED_FLEET, load_demo_config

    monkeypatch.delenv("VINCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    config, source = load_demo_config()
    assert source == BUNDLED_FLEET and "vinsight-backend" in config.services


def test_the_request_log_evidence_cap_reaches_the_judge_and_is_validated():
    from console.samples import judge_params

    config = parse_config(SHIPPED.replace("[analysis]\n", "[analysis]\nrequest_log_evidence_cap = 2.0\n", 1))
    target = config.targets("production", "vinsight-backend")[0]
    assert judge_params(target.rollout, config.analysis, extended=False).keyed_evidence_cap == 2.0
    with pytest.raises(ConfigError, match=r"analysis.request_log_evidence_cap = 0: Input should be greater than 0"):
        parse_config(SHIPPED.replace("[analysis]\n", "[analysis]\nrequest_log_evidence_cap = 0\n", 1))
