"""The Docker deployment, checked without Docker: docker-compose.yml against .env.example, the
backend's settings, the local stack's Label Studio settings, the Makefile, pyproject.toml, the
Dockerfile, the GPU overlay and the Kubernetes CronJob.

Compose's own interpolation is imitated for the two forms the file uses, ``${VAR:-default}``
and ``${VAR:?message}``, with .env.example's values and a fixed stand-in for every secret.
"""

import hashlib
import importlib.util
import ipaddress
import os
import re
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from sqlalchemy.engine import make_url

import upload.__main__ as upload_cli
from annotation_backend.settings import BackendSettings
from local_stack.processes import BLOCKED_SUBNETS, label_studio_environment
from local_stack.secrets_file import generate

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "docker" / "backend.Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
GPU_OVERLAY = ROOT / "docker" / "compose.gpu.yml"
POSTGRES_INIT = ROOT / "docker" / "postgres-init.sh"
CRONJOB = ROOT / "deploy" / "kubernetes" / "retrain-cronjob.yaml"
GUIDE = ROOT / "docs" / "deployment.md"

VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")
BARE_VARIABLE = re.compile(r"(?<!\$)\$(?![{$])")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY(_ID)?$")
BACKEND_IMAGE_SERVICES = ("backend", "worker", "scheduler")
LOOPBACK = ("127.0.0.0/8", "::1/128")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return dict(env_example_lines()[1])


@pytest.fixture(scope="module")
def filled_env(env_example) -> dict[str, str]:
    """.env.example with a distinct 40-hex-digit stand-in for every empty secret."""
    return {
        name: value or hashlib.sha1(name.encode()).hexdigest()
        for name, value in env_example.items()
    }


def env_example_lines() -> tuple[list[str], list[tuple[str, str]]]:
    """(every line, the assignments in order)."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    assignments = [tuple(line.split("=", 1)) for line in lines if re.match(r"^\w+=", line)]
    return lines, assignments


def interpolate(value: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        current = env.get(match["name"], "")
        if not current and match["op"] == ":?":
            raise KeyError(f"{match['name']} is required: {match['arg']}")
        return current or (match["arg"] if match["op"] == ":-" else "")

    return VARIABLE.sub(substitute, value)


def service_environment(service: dict, env: dict[str, str]) -> dict[str, str]:
    return {key: interpolate(str(value), env) for key, value in service["environment"].items()}


def option_value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def port_of(url: str) -> int:
    return urlsplit(url).port


def test_compose_file_defines_the_whole_stack(services):
    assert set(services) == {
        "postgres",
        "minio",
        "minio-init",
        "label-studio",
        "backend",
        "worker",
        "scheduler",
        "upload",
    }


def test_every_service_runs_a_pinned_image_or_builds_one_from_the_repository(services):
    for name, service in services.items():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
            continue
        repository, _, tag = service["image"].rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {service['image']!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: tag {tag!r} is no version"


def test_long_running_services_restart_and_report_their_health(services):
    for name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "no"), f"{name}: no restart policy"
        if service["restart"] == "unless-stopped":
            test = service.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no health check"


def test_dependencies_wait_for_health_or_for_a_finished_set_up(services):
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}'s health"
            else:
                assert rule["condition"] == "service_completed_successfully"
                assert services[target]["restart"] == "no", f"{target} is not a one-shot"


def test_compose_uses_only_braced_variables(compose_text):
    assert not BARE_VARIABLE.search(compose_text)


def test_every_compose_variable_is_listed_in_env_example(compose_text, env_example):
    used = {match["name"] for match in VARIABLE.finditer(compose_text)}
    assert used - set(env_example) == set()


def test_every_env_example_variable_is_used(compose_text, env_example):
    used = compose_text + DOCKERFILE.read_text()
    assert {name for name in env_example if f"${{{name}" not in used} == set()


def test_env_example_comments_every_variable_and_leaves_only_secrets_empty():
    lines, assignments = env_example_lines()
    for name, value in assignments:
        above = lines[lines.index(f"{name}={value}") - 1]
        assert above.startswith("# "), f"{name} has no comment line above it"
        assert (value == "") == bool(SECRET_NAME.search(name)), f"{name}={value!r}"
    assert "openssl rand -hex" in ENV_EXAMPLE.read_text()


def test_env_example_values_are_the_compose_defaults(compose_text, env_example):
    for match in VARIABLE.finditer(compose_text):
        if match["op"] == ":-":
            assert env_example[match["name"]] == match["arg"], match.group(0)


def test_every_secret_is_required_with_no_default(compose_text, services):
    for match in VARIABLE.finditer(compose_text):
        if SECRET_NAME.search(match["name"]):
            assert match["op"] == ":?" and match["arg"].strip(), match.group(0)
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            if SECRET_NAME.search(key) and str(value) not in ("", "true", "false"):
                assert ":?" in str(value), f"{name}: {key} is not taken from .env"


def test_published_ports_bind_to_the_bind_address_which_defaults_to_loopback(services, env_example):
    published = re.compile(r"^\$\{BIND_ADDRESS:-(?P<default>[^}]+)\}:(\d+):(\d+)$")
    publishing = set()
    for name, service in services.items():
        assert "network_mode" not in service
        for port in service.get("ports", []):
            match = published.match(str(port))
            assert match, f"{name}: port {port!r} names no bind address"
            assert match["default"] == "127.0.0.1"
            publishing.add(name)
    assert env_example["BIND_ADDRESS"] == "127.0.0.1"
    assert publishing == {"label-studio", "minio"}


def test_backend_image_services_set_only_real_backend_settings(services):
    fields = BackendSettings.model_fields
    required = {f"BACKEND_{name.upper()}" for name, field in fields.items() if field.is_required()}
    for name in (*BACKEND_IMAGE_SERVICES, "upload"):
        keys = {key for key in services[name]["environment"] if key.startswith("BACKEND_")}
        assert {key for key in keys if key[len("BACKEND_") :].lower() not in fields} == set()
        if name != "upload":
            assert required - keys == set(), f"{name} lacks required settings"


@pytest.mark.parametrize("name", BACKEND_IMAGE_SERVICES)
def test_backend_settings_load_from_the_compose_environment(
    name, services, filled_env, monkeypatch
):
    environment = service_environment(services[name], filled_env)
    for key in [key for key in os.environ if key.startswith("BACKEND_")]:
        monkeypatch.delenv(key)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)

    settings = BackendSettings()

    database = make_url(settings.database_url)
    assert database.drivername == "postgresql+psycopg" and database.host == "postgres"
    assert database.password == filled_env["BACKEND_DB_PASSWORD"]
    assert settings.password.get_secret_value() == filled_env["BACKEND_PASSWORD"]
    if name != "scheduler":
        assert settings.s3_bucket == filled_env["S3_FRAMES_BUCKET"]
        assert urlsplit(settings.label_studio_url).hostname == "label-studio"


def test_postgres_creates_the_databases_label_studio_and_the_backend_use(services, filled_env):
    script = POSTGRES_INIT.read_text()
    postgres = services["postgres"]
    assert any(
        volume.startswith("./docker/postgres-init.sh:/docker-entrypoint-initdb.d/")
        for volume in postgres["volumes"]
    )
    label_studio = service_environment(services["label-studio"], filled_env)
    backend = make_url(service_environment(services["backend"], filled_env)["BACKEND_DATABASE_URL"])
    for database, role in (
        (label_studio["POSTGRE_NAME"], label_studio["POSTGRE_USER"]),
        (backend.database, backend.username),
    ):
        assert f"CREATE DATABASE {database} OWNER {role};" in script
        assert f"REVOKE ALL ON DATABASE {database} FROM PUBLIC;" in script
    given = service_environment(postgres, filled_env)
    assert set(re.findall(r"\$(\w+)", script)) - set(given) <= {"POSTGRES_USER", "POSTGRES_DB"}
    assert given["LABEL_STUDIO_DB_PASSWORD"] == label_studio["POSTGRE_PASSWORD"]
    assert given["BACKEND_DB_PASSWORD"] == backend.password


def test_label_studio_keeps_the_local_stacks_security_settings(services, tmp_path):
    local = label_studio_environment(generate(), tmp_path, tmp_path, "http://127.0.0.1:8080")
    deployed = services["label-studio"]["environment"]
    per_site = {
        "LABEL_STUDIO_BASE_DATA_DIR",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
        "LABEL_STUDIO_HOST",
        "LABEL_STUDIO_USERNAME",
        "LABEL_STUDIO_PASSWORD",
        "LABEL_STUDIO_USER_TOKEN",
        "USER_ADDITIONAL_BANNED_SUBNETS",
    }
    for key in set(local) - per_site:
        assert deployed.get(key) == local[key], key
    assert deployed["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert deployed["COLLECT_ANALYTICS"] == deployed["LATEST_VERSION_CHECK"] == "false"
    assert deployed["SENTRY_DSN"] == deployed["FRONTEND_SENTRY_DSN"] == ""
    assert deployed["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] == "false"
    for key in ("LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN", "SECRET_KEY"):
        assert ":?" in deployed[key], key


def test_label_studio_runs_on_postgresql(services):
    environment = services["label-studio"]["environment"]
    assert environment["DJANGO_DB"] == "default"
    assert environment["POSTGRE_HOST"] in services
    assert environment["POSTGRE_PASSWORD"].startswith("${LABEL_STUDIO_DB_PASSWORD:?")
    assert {"POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PORT"} <= set(environment)
    assert services["label-studio"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_label_studio_image_is_the_version_the_makefile_pins(services):
    pinned = re.search(
        r"^LABEL_STUDIO_VERSION\s*:?=\s*(\S+)$", (ROOT / "Makefile").read_text(), re.M
    )
    assert services["label-studio"]["image"] == f"heartexlabs/label-studio:{pinned[1]}"


def test_label_studio_may_reach_the_ml_network_and_no_other_reserved_range(compose, services):
    ml = ipaddress.ip_network(compose["networks"]["ml"]["ipam"]["config"][0]["subnet"])
    environment = services["label-studio"]["environment"]
    banned = [
        ipaddress.ip_network(cidr)
        for cidr in environment["USER_ADDITIONAL_BANNED_SUBNETS"].split(",")
    ]

    assert ml.is_private and environment["USE_DEFAULT_BANNED_SUBNETS"] == "false"
    assert not any(network.overlaps(ml) for network in banned if network.version == ml.version)
    for cidr in (*BLOCKED_SUBNETS.split(","), *LOOPBACK):
        network = ipaddress.ip_network(cidr)
        parts = (
            network.address_exclude(ml)
            if ml.version == network.version and ml.subnet_of(network)
            else [network]
        )
        for part in parts:
            assert any(part.subnet_of(b) for b in banned if b.version == part.version), part
    on_ml = {name for name, service in services.items() if "ml" in service.get("networks", {})}
    assert on_ml == {"label-studio", "backend"}


def test_the_backend_is_reached_by_a_name_that_exists_on_the_ml_network_only(services):
    alias = services["backend"]["networks"]["ml"]["aliases"]
    port = option_value(services["backend"]["command"], "--port")
    assert alias == ["ml-backend"]
    assert f"http://ml-backend:{port}" in GUIDE.read_text()


def test_ports_agree_between_commands_health_checks_and_urls(services, filled_env):
    backend = services["backend"]
    backend_port = int(option_value(backend["command"], "--port"))
    assert option_value(backend["command"], "--host") == "0.0.0.0"
    assert port_of(backend["healthcheck"]["test"][-1]) == backend_port

    label_studio = services["label-studio"]
    ls_port = int(option_value(label_studio["command"], "--port"))
    assert (
        port_of(re.search(r"http://[^']+", label_studio["healthcheck"]["test"][-1])[0]) == ls_port
    )
    assert str(label_studio["ports"][0]).endswith(f":{ls_port}")

    minio_port = int(option_value(services["minio"]["command"], "--address").lstrip(":"))
    assert str(services["minio"]["ports"][0]).endswith(f":{minio_port}")

    environment = service_environment(backend, filled_env)
    upload = [interpolate(part, filled_env) for part in services["upload"]["entrypoint"]]
    assert port_of(environment["BACKEND_LABEL_STUDIO_URL"]) == ls_port
    assert port_of(option_value(upload, "--label-studio-url")) == ls_port
    assert port_of(environment["BACKEND_S3_ENDPOINT_URL"]) == minio_port
    assert option_value(upload, "--s3-endpoint-url") == environment["BACKEND_S3_ENDPOINT_URL"]
    minio_names = services["minio"]["networks"]["default"]["aliases"]
    assert urlsplit(environment["BACKEND_S3_ENDPOINT_URL"]).hostname in [
        interpolate(name, filled_env) for name in minio_names
    ]
    database_port = make_url(environment["BACKEND_DATABASE_URL"]).port
    assert int(label_studio["environment"]["POSTGRE_PORT"]) == database_port
    assert f"--port={database_port}" in services["postgres"]["healthcheck"]["test"]


def test_upload_runs_as_a_one_off_with_real_options(services, filled_env):
    upload = services["upload"]
    options = {opt for p in typer.main.get_command(upload_cli.app).params for opt in p.opts}
    entrypoint = [interpolate(part, filled_env) for part in upload["entrypoint"]]
    assert entrypoint[:3] == ["python", "-m", "upload"]
    assert {part for part in entrypoint if part.startswith("--")} - options == set()
    assert option_value(entrypoint, "--store").startswith(f"s3://{filled_env['S3_FRAMES_BUCKET']}/")
    assert upload["profiles"] == ["tools"] and "LABEL_STUDIO_API_TOKEN" in upload["environment"]


def test_scheduler_queues_a_run_every_interval(services):
    command = services["scheduler"]["command"]
    script = ROOT / "docker" / Path(command[-1]).name
    assert command[-1] == "/app/docker/retrain-loop.sh"
    assert "python -m annotation_backend.retrain" in script.read_text()
    assert "RETRAIN_INTERVAL_S" in script.read_text()
    assert "RETRAIN_INTERVAL_S" in services["scheduler"]["environment"]


@pytest.mark.parametrize(
    "script, shell",
    [("retrain-loop.sh", "sh"), ("minio-init.sh", "sh"), ("postgres-init.sh", "bash")],
)
def test_shell_scripts_parse(script, shell):
    done = subprocess.run([shell, "-n", str(ROOT / "docker" / script)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def test_dockerfile_pins_torch_as_pyproject_does():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = next(d for d in dependencies if re.match(r"torch\s*==", d)).split("==")[1].strip()
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^ARG TORCH_VERSION=(\S+)$", dockerfile, re.M)[1] == pinned
    assert '"torch==${TORCH_VERSION}"' in dockerfile
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", dockerfile, re.M)


def test_dockerfile_copies_every_package_and_dockerignore_lets_it_in(services):
    dockerfile = DOCKERFILE.read_text()
    allowed = {
        line[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.startswith("!")
    }
    sources = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M)
        for source in line.split()[:-1]
    ]
    assert set(sources) - allowed == set()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {pattern.rstrip("*") for pattern in packages["packages"]["find"]["include"]} <= set(
        sources
    )
    cmd = re.search(r"^CMD (\[.+\])$", dockerfile, re.M)[1]
    assert yaml.safe_load(cmd) == services["backend"]["command"]


def test_gpu_overlay_gives_the_worker_a_gpu(services):
    overlay = yaml.safe_load(GPU_OVERLAY.read_text())["services"]
    assert set(overlay) <= set(services)
    devices = overlay["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in devices)


def test_kubernetes_cronjob_queues_runs_with_the_required_settings_from_a_secret():
    cronjob = yaml.safe_load(CRONJOB.read_text())
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    environment = {item["name"]: item for item in container["env"]}
    fields = BackendSettings.model_fields
    required = {f"BACKEND_{name.upper()}" for name, field in fields.items() if field.is_required()}

    assert cronjob["kind"] == "CronJob" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert container["command"] == ["python", "-m", "annotation_backend.retrain"]
    assert required | {"BACKEND_DATABASE_URL"} <= set(environment)
    assert {name[len("BACKEND_") :].lower() for name in environment} <= set(fields)
    for name in [name for name in environment if SECRET_NAME.search(name)] + [
        "BACKEND_DATABASE_URL"
    ]:
        assert set(environment[name]) == {"name", "valueFrom"}, name
        assert "secretKeyRef" in environment[name]["valueFrom"], name
    uid = re.search(r"--uid (\d+)", DOCKERFILE.read_text())[1]
    assert pod["securityContext"]["runAsUser"] == int(uid)


def test_every_module_the_guide_runs_exists():
    modules = set(re.findall(r"python -m ([\w.]+)", GUIDE.read_text()))
    assert "annotation_backend.retrain" in modules
    assert {module for module in modules if importlib.util.find_spec(module) is None} == set()
