"""Reading ``keel.toml`` and ``KEEL_*`` overrides into a frozen :class:`Config`.

Every setting has a section, a key, a type and a default. ``KEEL_<SECTION>_<KEY>`` (upper case)
overrides the file, so ``KEEL_STORE_URL`` overrides ``[store] url``. One setting is a table:
``[artifacts.storage_options]``, keyword arguments for the artifact store's fsspec filesystem
(``KEEL_ARTIFACTS_STORAGE_OPTIONS`` overrides it with a JSON object). Unknown sections or keys
are errors that name the closest known one, because a silently ignored typo is a setting that
never took effect. Every mistake in the file is reported at once, each with its line and key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.config._storage_options import check_storage_options
from keel.errors import ConfigError, ConfigFileError, UsageError, did_you_mean
from keel.grammar import Reader, parse_duration, read_toml

__all__ = ["Config", "find_root", "init_project", "load_config"]

CONFIG_FILE = "keel.toml"
STATE_DIR = ".keel"

Value = str | int | float | bool

# (section, key) -> (type, default). Defaults that depend on the root are filled in later.
_SETTINGS: dict[tuple[str, str], tuple[type, Value]] = {
    ("project", "name"): (str, ""),
    ("store", "url"): (str, ""),
    ("store", "trusted"): (bool, False),
    ("artifacts", "url"): (str, ""),
    ("contracts", "examples"): (int, 5),
    ("contracts", "strict"): (bool, False),
    ("pipeline", "contracts"): (str, "full"),
    ("lineage", "url"): (str, ""),
    ("telemetry", "exporter"): (str, "none"),
    ("telemetry", "endpoint"): (str, ""),
    ("logging", "format"): (str, "text"),
    ("features", "definitions"): (str, ""),
    ("features", "online"): (str, ""),
    ("features", "skew_max_share"): (float, 0.01),
    # objectives of the quality KPIs (keel kpis, the overview of keel ui): docs/ui.md
    ("kpis", "contract_pass_rate"): (float, 0.95),
    ("kpis", "data_freshness"): (str, "30d"),
    ("kpis", "run_failure_rate"): (float, 0.1),
    ("kpis", "gate_pass_rate"): (float, 0.5),
    ("kpis", "cache_hit_rate"): (float, 0.3),
    ("kpis", "serving_p99_ms"): (float, 500.0),
    ("kpis", "serving_invalid_rate"): (float, 0.01),
    ("kpis", "amber_margin"): (float, 0.2),
    ("kpis", "serving_p50_ms"): (float, 100.0),
    ("kpis", "drifted_columns"): (float, 0.0),
    ("kpis", "step_p90"): (str, "1h"),
}

# settings that hold a duration (keel.grammar's one grammar: 30s, 15m, 2d)
_DURATIONS = {("kpis", "data_freshness"), ("kpis", "step_p90")}

# settings whose value is a table (kept apart from the typed scalars above)
_TABLES = {("artifacts", "storage_options")}
_OPTIONS_ENV = "KEEL_ARTIFACTS_STORAGE_OPTIONS"

# settings whose value is one of a few words
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("pipeline", "contracts"): ("full", "schema", "off"),
    ("telemetry", "exporter"): ("none", "console", "otlp"),
    ("logging", "format"): ("text", "json"),
}

_TEMPLATE = """\
# Keel project configuration. Every setting can be overridden by an environment variable
# KEEL_<SECTION>_<KEY>, for example KEEL_STORE_URL.

[project]
name = "{name}"

[store]
# Metadata store. Default: a SQLite file under .keel/. Teams: postgresql+psycopg://user@host/db
# url = "sqlite:///.keel/keel.db"
# Unpickle cached step outputs that this project did not seal: only if every writer of the
# metadata and artifact stores is trusted (docs/security.md).
trusted = false

[artifacts]
# Artifact store. Default: a local folder under .keel/. Teams: any fsspec URL (s3://bucket/keel)
# url = ".keel/artifacts"
# Options for its fsspec filesystem, e.g. an S3-compatible server (docs/configuration.md):
# [artifacts.storage_options]
# endpoint_url = "http://127.0.0.1:9000"

[contracts]
# Failing-row examples kept per failed check.
examples = 5
# Reject columns that the contract does not declare.
strict = false

[pipeline]
# Contract checks at step boundaries: "full" (every check), "schema" (columns and types) or "off".
contracts = "full"

[lineage]
# POST OpenLineage run events here too (they are always kept in the metadata store).
# url = "http://localhost:5000/api/v1/lineage"

[telemetry]
# An OpenTelemetry span per pipeline step: "none", "console", or "otlp" (pip install mlkeel[otel]).
exporter = "none"
# endpoint = "http://localhost:4318/v1/traces"

[logging]
# "text", or "json" for one structured JSON object per line on stderr.
format = "text"

[features]
# The Python file that defines the project's entities, feature views and services.
# definitions = "features.py"
# The online store for materialized features: the embedded SQLite store (.keel/online.db)
# by default, or a Redis server: online = "redis://127.0.0.1:6379/0" (pip install mlkeel[redis]).
# online = ""
# keel features skew fails when more than this share of a feature's served values differ
# from the point-in-time join (docs/features.md).
# skew_max_share = 0.01

[kpis]
# Objectives of the quality KPIs (keel kpis; the overview of keel ui). Defaults shown.
# contract_pass_rate = 0.95   # share of recent dataset versions whose contract passed
# data_freshness = "30d"      # newest version of every dataset at most this old
# run_failure_rate = 0.1      # share of recent runs that failed or were killed, at most
# gate_pass_rate = 0.5        # share of recent gate decisions that passed
# cache_hit_rate = 0.3        # share of recent pipeline steps served from the cache
# serving_p99_ms = 500        # p99 latency of served predictions over the last day
# serving_invalid_rate = 0.01 # share of served records that broke the input contract
# amber_margin = 0.2          # amber (not red) while within this fraction of an objective
# serving_p50_ms = 100        # median latency of served predictions over the last day
# drifted_columns = 0         # columns drifted in a served model's latest monitoring window
# step_p90 = "1h"             # p90 duration of the slowest pipeline step (executed, not cached)
"""


@dataclass(frozen=True)
class Config:
    """Resolved configuration of one Keel project."""

    root: Path
    project_name: str
    store_url: str
    artifacts_url: str
    contract_examples: int
    contract_strict: bool
    source: Path | None = None
    """The ``keel.toml`` read, or ``None`` when there is none (all defaults)."""
    pipeline_contracts: str = "full"
    """Contract checks at pipeline step boundaries: ``full``, ``schema`` or ``off``."""
    lineage_url: str = ""
    """An OpenLineage HTTP endpoint that receives run events (none when empty)."""
    telemetry_exporter: str = "none"
    telemetry_endpoint: str = ""
    log_format: str = "text"
    store_trusted: bool = False
    """Every writer of the stores is trusted: unsealed pickled step outputs may be loaded."""
    artifacts_options: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    """Keyword arguments for the artifact store's fsspec filesystem (endpoint, credentials,
    botocore settings...): ``[artifacts.storage_options]``."""
    features_definitions: str = ""
    """The Python file defining entities, feature views and services (relative to ``root``)."""
    features_online: str = ""
    """The online store's URL: empty for the embedded SQLite store, or ``redis://...``."""
    features_skew_max_share: float = 0.01
    """``keel features skew`` fails when a feature's share of differing values exceeds it."""
    kpis: tuple[tuple[str, Value], ...] = ()
    """The ``[kpis]`` objectives, every key with its value (defaults filled in)."""

    @property
    def state_dir(self) -> Path:
        """The ``.keel/`` folder that holds the embedded store and artifacts."""
        return self.root / STATE_DIR


def find_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` holding ``keel.toml`` (else ``start``)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return here


def load_config(start: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the project's ``keel.toml`` (if any) and apply ``KEEL_*`` overrides from ``env``."""
    root = find_root(start)
    path = root / CONFIG_FILE
    env = os.environ if env is None else env
    from_env = _read_env(env)
    url = from_env.get(("artifacts", "url"))
    values, options = _read_file(path, url) if path.is_file() else ({}, {})
    values.update(from_env)
    if _OPTIONS_ENV in env:
        options = _env_options(env[_OPTIONS_ENV])

    def get(section: str, key: str) -> Value:
        return values.get((section, key), _SETTINGS[(section, key)][1])

    state = root / STATE_DIR
    return Config(
        root=root,
        project_name=str(get("project", "name")) or root.name,
        store_url=str(get("store", "url")) or f"sqlite:///{state / 'keel.db'}",
        artifacts_url=str(get("artifacts", "url")) or str(state / "artifacts"),
        contract_examples=int(get("contracts", "examples")),
        contract_strict=bool(get("contracts", "strict")),
        source=path if path.is_file() else None,
        pipeline_contracts=str(get("pipeline", "contracts")),
        lineage_url=str(get("lineage", "url")),
        telemetry_exporter=str(get("telemetry", "exporter")),
        telemetry_endpoint=str(get("telemetry", "endpoint")),
        log_format=str(get("logging", "format")),
        store_trusted=bool(get("store", "trusted")),
        artifacts_options=options,
        features_definitions=str(get("features", "definitions")),
        features_online=str(get("features", "online")),
        features_skew_max_share=float(get("features", "skew_max_share")),
        kpis=tuple((key, get(section, key)) for section, key in _SETTINGS if section == "kpis"),
    )


def init_project(root: Path, *, name: str | None = None, force: bool = False) -> Path:
    """Write ``keel.toml`` and create ``.keel/`` in ``root``; return the config file's path."""
    root = root.resolve()
    path = root / CONFIG_FILE
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists; keel init does not overwrite a configuration.",
            hint="Edit it by hand, or pass --force to replace it with the defaults.",
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / STATE_DIR).mkdir(exist_ok=True)
    (root / STATE_DIR / ".gitignore").write_text("*\n", encoding="utf-8")
    path.write_text(_TEMPLATE.format(name=name or root.name), encoding="utf-8")
    return path


_WHAT = "configuration"


def _read_file(
    path: Path, url_override: Value | None = None
) -> tuple[dict[tuple[str, str], Value], dict[str, Any]]:
    """The settings in ``keel.toml`` and its storage options; every mistake is reported at
    once with its line. ``url_override`` is the artifact store's URL from the environment."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text.", hint="Save it as UTF-8.") from exc
    source = str(path)
    document = read_toml(text, source, what=_WHAT, error=ConfigFileError)
    hint = "Fix it, or run keel init --force to start from the defaults."
    reader = Reader(document, what=_WHAT, hint=hint, error=ConfigFileError)
    known_sections = sorted({section for section, _ in _SETTINGS})
    values: dict[tuple[str, str], Value] = {}
    options: dict[str, Any] = {}
    for section, table in document.data.items():
        if section not in known_sections:
            reader.unknown((section,), section, known_sections, what="section")
            continue
        keys = sorted(
            [k for s, k in _SETTINGS if s == section] + [k for s, k in _TABLES if s == section]
        )
        if reader.mapping(table, (section,), keys) is None:
            continue
        for key in (k for k in table if k in keys):
            if (section, key) in _TABLES:
                continue
            values[(section, key)] = _file_value(reader, table, section, key)
    artifacts = document.data.get("artifacts")
    if isinstance(artifacts, dict) and "storage_options" in artifacts:
        where = ("artifacts", "storage_options")
        found = reader.mapping(artifacts["storage_options"], where, None)
        if found is not None:
            options = dict(found)
            url = url_override if url_override is not None else values.get(("artifacts", "url"), "")
            check_storage_options(reader, options, where, str(url))
    reader.finish()
    return values, options


def _env_options(raw: str) -> dict[str, Any]:
    hint = f'Set {_OPTIONS_ENV} to a JSON object, e.g. {{"endpoint_url": "http://host:9000"}}.'
    try:
        found = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"environment variable {_OPTIONS_ENV} is not valid JSON: {exc}.", hint=hint
        ) from exc
    if not isinstance(found, dict):
        raise ConfigError(
            f"environment variable {_OPTIONS_ENV} must be a JSON object, got {raw!r}.", hint=hint
        )
    return found


def _file_value(reader: Reader, table: dict[str, object], section: str, key: str) -> Value:
    choices = _CHOICES.get((section, key))
    default = _SETTINGS[(section, key)][1]
    if choices is not None and isinstance(table[key], str):
        return reader.choice(table, key, (section,), choices, str(default))
    value, problem, hint = _convert(table[key], section, key)
    if problem:
        reader.problem((section, key), problem, hint=hint)
    elif (section, key) in _DURATIONS:
        problem, hint = _duration_problem(value, f"[{section}] {key}")
        if problem:
            reader.problem((section, key), problem, hint=hint)
            return default
    return value


def _duration_problem(value: Value, where: str) -> tuple[str, str]:
    try:
        parse_duration(str(value), where=where)
    except UsageError as error:
        return error.message.removeprefix(f"{where} "), error.hint or ""
    return "", ""


def _read_env(env: Mapping[str, str]) -> dict[tuple[str, str], Value]:
    values: dict[tuple[str, str], Value] = {}
    for section, key in _SETTINGS:
        name = f"KEEL_{section}_{key}".upper()
        if name in env:
            values[(section, key)] = _typed(env[name], section, key, f"environment variable {name}")
    return values


def _typed(raw: object, section: str, key: str, where: str) -> Value:
    value, problem, hint = _convert(raw, section, key)
    if not problem and (section, key) in _DURATIONS:
        problem, hint = _duration_problem(value, where)
    if problem:
        raise ConfigError(f"{where} {problem.rstrip('.')}.", hint=hint)
    return value


def _convert(raw: object, section: str, key: str) -> tuple[Value, str, str]:
    """``raw`` as the setting's type (text read as a bool or int where that is meant), or
    the default with what is wrong and a hint."""
    kind, default = _SETTINGS[(section, key)]
    if isinstance(raw, str) and kind is not str:
        read = _from_text(raw.strip().lower(), kind)
        if read is not None:
            return read, "", ""
    elif kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw), "", ""
    elif isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        choices = _CHOICES.get((section, key))
        if choices is not None and raw not in choices:
            return (
                default,
                f"must be one of {', '.join(map(repr, choices))}, got {raw!r}",
                did_you_mean(str(raw), choices) or f"Set it to {choices[0]!r}.",
            )
        return raw, "", ""  # type: ignore[return-value]  # isinstance against a runtime type
    return (
        default,
        f"must be {kind.__name__}, got {raw!r}",
        f"Set it to a {kind.__name__} value, e.g. {default!r}.",
    )


def _from_text(text: str, kind: type) -> Value | None:
    """A bool, int or float written as text (an environment variable), or None."""
    if kind is bool and text in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return text in {"1", "true", "yes", "on"}
    if kind is int and text.lstrip("-").isdigit():
        return int(text)
    if kind is float:
        try:
            return float(text)
        except ValueError:
            return None
    return None
