"""Every API status maps to one Custody error, and only temporary ones are retried."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from custody.errors import PermanentError, ServiceUnavailableError, TransientError
from processors.k8s_api import AccessDenied, AlreadyExists, Expired, NotFound, Rejected, api_message, convert, is_retryable, retry_after_s


def api_error(status: int, message: str = "boom", headers=None) -> ApiException:
    error = ApiException(status=status, reason="Reason")
    error.body = json.dumps({"kind": "Status", "message": message})
    error.headers = headers or {}
    return error


@pytest.mark.parametrize(
    ("status", "kind", "permanent"),
    [
        (409, AlreadyExists, True),
        (404, NotFound, True),
        (400, Rejected, True),
        (422, Rejected, True),
        (401, AccessDenied, True),
        (410, Expired, False),
        (429, ServiceUnavailableError, False),
        (500, ServiceUnavailableError, False),
        (503, ServiceUnavailableError, False),
    ],
)
def test_status_maps_to_one_error_type(status, kind, permanent):
    converted = convert(api_error(status), what="CREATE job x")

    assert isinstance(converted, kind)
    assert isinstance(converted, PermanentError if permanent else TransientError)
    assert "CREATE job x" in str(converted)


def test_rejection_carries_the_api_servers_message():
    message = 'Job.batch "x" is invalid: spec.template.spec.containers[0].image: Required value'

    converted = convert(api_error(422, message), what="CREATE job x")

    assert converted.message == message
    assert message in str(converted)


def test_rbac_denial_is_access_denied():
    message = 'secrets is forbidden: User "system:serviceaccount:custody:processors" cannot list resource "secrets"'

    converted = convert(api_error(403, message), what="LIST secrets")

    assert isinstance(converted, AccessDenied)
    assert "Role" in str(converted)


def test_admission_denial_is_a_rejection_with_its_message():
    message = 'pods "x" is forbidden: violates PodSecurity "restricted:latest": unrestricted capabilities'

    converted = convert(api_error(403, message), what="CREATE pod")

    assert isinstance(converted, Rejected)
    assert converted.message == message


@pytest.mark.parametrize(("status", "retry"), [(429, True), (500, True), (503, True), (400, False), (409, False), (410, False)])
def test_only_throttling_and_server_errors_are_retried(status, retry):
    assert is_retryable(api_error(status)) is retry


def test_retry_after_header_sets_the_wait_within_bounds():
    assert retry_after_s(api_error(429, headers={"Retry-After": "2"}), 0.5) == 2.0
    assert retry_after_s(api_error(429, headers={"Retry-After": "9999"}), 0.5) == 30.0
    assert retry_after_s(api_error(429), 0.5) == 0.5


def test_message_falls_back_to_the_body_text():
    error = ApiException(status=500, reason="Internal")
    error.body = "not json"

    assert api_message(error) == "not json"
