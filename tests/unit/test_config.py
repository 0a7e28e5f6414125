import logging
import re
from dataclasses import fields
from pathlib import Path

import pytest

import otel_label_studio
from otel_label_studio.config import (
    SETTINGS_PAGE,
    SettingsError,
    default,
    names,
    read_settings,
    readme_sections,
    readme_tables,
    render_readme,
    resolve_settings,
    spec,
)
from tests.support.prerequisites import REPO_ROOT


def test_defaults_match_the_seed_handler():
    settings = resolve_settings(environ={})
    assert settings.url == "http://localhost:8080"
    assert settings.project_name == default("project_name") == "LangChain-%Y-%m-%d"
    assert settings.mode == "prompt"
    assert settings.api_key is None and settings.project_id is None


def test_argument_beats_environment_beats_default():
    environ = {
        "LABEL_STUDIO_URL": "http://env:1/",
        "LABEL_STUDIO_PROJECT_ID": "7",
        "LABEL_STUDIO_API_KEY": "k",
    }
    from_env = resolve_settings(environ=environ)
    assert (from_env.url, from_env.project_id, from_env.api_key) == ("http://env:1", 7, "k")
    explicit = resolve_settings(url="http://arg:2", project_id=3, api_key="a", environ=environ)
    assert (explicit.url, explicit.project_id, explicit.api_key) == ("http://arg:2", 3, "a")


def test_empty_variable_counts_as_unset():
    settings = resolve_settings(environ={"LABEL_STUDIO_URL": "", "OTEL_LABEL_STUDIO_MODE": " "})
    assert settings.url == "http://localhost:8080" and settings.mode == "prompt"


def test_bad_environment_value_warns_and_falls_back(caplog):
    caplog.set_level(logging.WARNING)
    settings = resolve_settings(
        environ={"OTEL_LABEL_STUDIO_BATCH_SIZE": "lots", "OTEL_LABEL_STUDIO_MODE": "x"}
    )
    assert settings.batch_size == 500 and settings.mode == "prompt"
    assert "OTEL_LABEL_STUDIO_BATCH_SIZE" in caplog.text and "OTEL_LABEL_STUDIO_MODE" in caplog.text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "dialogue"}, "mode: 'dialogue' is not one of prompt, chat"),
        ({"project_id": "abc"}, "project_id"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_argument_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve_settings(environ={}, **kwargs)


def test_project_config_file_from_environment(tmp_path):
    path = tmp_path / "config.xml"
    path.write_text("<View/>")
    assert (
        resolve_settings(environ={"OTEL_LABEL_STUDIO_PROJECT_CONFIG": str(path)}).project_config == "<View/>"
    )
    with pytest.raises(ValueError, match="label config file .* cannot be read"):
        resolve_settings(environ={"OTEL_LABEL_STUDIO_PROJECT_CONFIG": str(tmp_path / "missing.xml")})


def test_repr_hides_the_key():
    assert "sekret" not in repr(resolve_settings(api_key="sekret", environ={}))


def test_the_settings_tables_are_derived_from_the_settings_model():
    page = (REPO_ROOT / SETTINGS_PAGE).read_text(encoding="utf-8")
    found = dict(readme_sections(page))
    expected = readme_tables()
    assert set(found) == set(expected), f"a settings table's markers are missing from {SETTINGS_PAGE}"
    for table, text in expected.items():
        assert found[table] == text, (
            f"the {table} settings table of {SETTINGS_PAGE} differs from config.Settings: "
            f"run python -m otel_label_studio.cli.readme {SETTINGS_PAGE}"
        )
    assert render_readme(page) == page


def test_every_setting_declares_its_variable_and_meaning_once():
    variables = [spec(name).env for name in names()]
    assert len(variables) == len(set(variables))
    flags = [spec(name).flag for name in names() if spec(name).flag]
    assert len(flags) == len(set(flags))
    for name in names():
        assert spec(name).doc and "\n" not in spec(name).doc
        assert spec(name).exporter or spec(name).serve, name


def test_no_default_constants_outside_the_settings_model():
    package = Path(otel_label_studio.__file__).parent
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "config.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.match(r"\s*DEFAULT_\w+\s*[:=]", line)
    ]
    assert found == []


def test_serve_options_take_their_defaults_and_values_from_the_model():
    from otel_label_studio.receiver.serve import ServeOptions

    for field in fields(ServeOptions):
        if field.name not in ("settings", "data_dir"):
            assert field.default == default(field.name), field.name
    settings = read_settings(
        flags={"http_port": "0", "max_body_bytes": "1MiB", "drain_seconds": "0"}, environ={}
    )
    options = ServeOptions.from_settings(settings)
    assert (options.http_port, options.max_body_bytes, options.drain_seconds) == (0, 1 << 20, 0.0)
    assert options.data_dir == settings.data_dir and options.settings is settings


def test_one_rule_for_a_malformed_value(caplog):
    """The commands refuse it, naming the flag or variable; the exporter logs the variable once and
    uses the default. `--timeout 0` used to pass the command line and become the default silently."""
    caplog.set_level(logging.WARNING)
    environ = {"OTEL_LABEL_STUDIO_TIMEOUT": "0", "OTEL_LABEL_STUDIO_MODE": "dialogue"}
    settings = resolve_settings(environ=environ)
    assert settings.timeout == 10.0 and settings.mode == "prompt"
    assert caplog.text.count("OTEL_LABEL_STUDIO_TIMEOUT") == 1
    assert caplog.text.count("OTEL_LABEL_STUDIO_MODE") == 1
    with pytest.raises(SettingsError) as refused:
        read_settings(["timeout", "mode"], environ=environ)
    assert [problem.source for problem in refused.value.problems] == [
        "OTEL_LABEL_STUDIO_TIMEOUT",
        "OTEL_LABEL_STUDIO_MODE",
    ]
    assert "OTEL_LABEL_STUDIO_TIMEOUT: '0' must be a number of seconds above 0" in str(refused.value)
    for name, flag in (("timeout", "--timeout"), ("import_timeout", "--import-timeout")):
        with pytest.raises(SettingsError, match=f"{flag}: '0' must be a number of seconds above 0"):
            read_settings([name], flags={name: "0"}, environ={})
    with pytest.raises(ValueError, match="timeout: '0' must be a number of seconds above 0"):
        resolve_settings(timeout=0, environ={})


def test_a_flag_beats_the_variable_and_settings_not_asked_for_keep_their_default():
    environ = {"OTEL_LABEL_STUDIO_BATCH_SIZE": "7", "OTEL_LABEL_STUDIO_HTTP_PORT": "lots"}
    settings = read_settings(["batch_size", "mode"], flags={"mode": "chat"}, environ=environ)
    assert (settings.batch_size, settings.mode, settings.http_port) == (7, "chat", 4318)
    assert read_settings(["batch_size"], flags={"batch_size": "9"}, environ=environ).batch_size == 9


def test_the_exporter_starts_with_a_malformed_environment(monkeypatch, caplog):
    from otel_label_studio import LabelStudioSpanExporter

    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("OTEL_LABEL_STUDIO_MODE", "dialogue")
    monkeypatch.setenv("OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE", "-1")
    monkeypatch.setenv("LABEL_STUDIO_URL", "localhost:1")
    exporter = LabelStudioSpanExporter(api_key="k")
    try:
        assert exporter.layout.dialogue is False  # the prompt layout, the default
        assert "OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE" in caplog.text and "OTEL_LABEL_STUDIO_MODE" in caplog.text
        assert "using 'http://localhost:1'" in caplog.text
    finally:
        exporter.shutdown()


def test_a_duration_that_is_not_a_number_says_what_to_write():
    """`--pair-wait 60s` said only "could not convert string to float: '60s'"."""
    durations = (("pair_wait", "--pair-wait"), ("judge_wait", "--judge-wait"), ("run_grace", "--run-grace"))
    for name, flag in durations:
        with pytest.raises(SettingsError) as refused:
            read_settings([name], flags={name: "60s"}, environ={})
        assert f"{flag}: '60s' must be a number of seconds above 0" in str(refused.value)
        assert "could not convert" not in str(refused.value)


def test_a_rules_file_the_mode_refuses_is_named_as_it_was_given(tmp_path):
    """Named as given: the exporter's `review_rules`, the variable, or serve's flag."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: long-runs\n    match: {run.steps: '>3'}\n")
    with pytest.raises(ValueError) as as_argument:
        resolve_settings(review_rules=str(rules), environ={})
    assert str(as_argument.value).startswith(f"review_rules: {rules}, line 3: run.steps")
    with pytest.raises(ValueError) as from_variable:
        resolve_settings(mode="pairwise", environ={"OTEL_LABEL_STUDIO_REVIEW_RULES": str(rules)})
    assert str(from_variable.value).startswith("OTEL_LABEL_STUDIO_REVIEW_RULES: review rules do not apply")
    with pytest.raises(SettingsError) as as_flag:
        read_settings(["mode", "review_rules"], flags={"review_rules": str(rules)}, environ={})
    assert str(as_flag.value).startswith("--review-rules: ")
