"""Fixtures for integration tests: a real Label Studio for the session, and an SDK client to read it.

Label Studio comes from ``.venv-labelstudio`` (``make test`` creates it), or from
``OTEL_LS_TEST_URL`` + ``OTEL_LS_TEST_LEGACY_TOKEN`` + ``OTEL_LS_TEST_PAT`` for a server you run.
Without one, integration tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
from label_studio_sdk import LabelStudio

from tests.support import labelstudio_server, postgres, secrets_watch
from tests.support.browser import browser  # noqa: F401  (the fixture, for the browser tests)
from tests.support.labelstudio_server import LabelStudioServer
from tests.support.prerequisites import REPO_ROOT, missing


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    url = os.environ.get("OTEL_LS_TEST_URL")
    if url:
        external = LabelStudioServer(
            url=url.rstrip("/"),
            legacy_token=os.environ["OTEL_LS_TEST_LEGACY_TOKEN"],
            pat=os.environ.get("OTEL_LS_TEST_PAT")
            or labelstudio_server.mint_pat(
                url, labelstudio_server.ADMIN_EMAIL, labelstudio_server.ADMIN_PASSWORD
            ),
        )
        secrets_watch.register(external.legacy_token, external.pat)
        yield external
        return
    binary = labelstudio_server.find_binary(REPO_ROOT)
    if binary is None:
        message = (
            "no Label Studio: run `make test` (it installs one into .venv-labelstudio) "
            "or set OTEL_LS_TEST_URL"
        )
        missing(message)
    server = labelstudio_server.start(binary, tmp_path_factory.mktemp("label-studio"))
    secrets_watch.register(server.legacy_token, server.pat)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Postgres]:
    """A throwaway PostgreSQL on loopback for the session (Debian's package: `make postgres`)."""
    if postgres.bin_dir() is None:
        missing(postgres.NOT_INSTALLED)
    server = postgres.start()
    secrets_watch.register(server.password)
    yield server
    server.stop()


@pytest.fixture
def state_url(postgres_server: postgres.Postgres) -> str:
    """A URL of a fresh database of the session's PostgreSQL: a review state of the test's own."""
    return postgres_server.create_database(f"state_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def ls(label_studio: LabelStudioServer) -> LabelStudio:
    """An SDK client for reading back what the bridge wrote."""
    return LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)


@pytest.fixture
def project_name() -> str:
    return f"otel-ls-test-{uuid.uuid4().hex[:10]}"
