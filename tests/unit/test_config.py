import logging

import pytest

from otel_label_studio.config import DEFAULT_PROJECT_NAME, resolve_settings


def test_defaults_match_the_seed_handler():
    settings = resolve_settings(environ={})
    assert settings.url == "http://localhost:8080"
    assert settings.project_name == DEFAULT_PROJECT_NAME == "LangChain-%Y-%m-%d"
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
        ({"mode": "dialogue"}, "mode must be one of"),
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
    with pytest.raises(ValueError, match="cannot read label config file"):
        resolve_settings(environ={"OTEL_LABEL_STUDIO_PROJECT_CONFIG": str(tmp_path / "missing.xml")})


def test_repr_hides_the_key():
    assert "sekret" not in repr(resolve_settings(api_key="sekret", environ={}))
