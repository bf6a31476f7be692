"""The adversarial tests drive the installed CLI against a moto server like tests/e2e."""

from tests.e2e.conftest import cli, endpoint, moto_server  # noqa: F401 (fixtures)
