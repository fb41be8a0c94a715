"""S3 client factory against the real S3 server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from custody.errors import ConfigurationError, ServiceUnavailableError
from custody.s3 import make_s3_client, probe_s3
from custody.settings import S3Settings


def test_put_get_and_list_versions(s3_settings: S3Settings, unique: str):
    client = make_s3_client(s3_settings)
    bucket = f"custody-test-{unique}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    first = client.put_object(Bucket=bucket, Key="raw/2024 Q1/a+b.csv", Body=b"v1")
    second = client.put_object(Bucket=bucket, Key="raw/2024 Q1/a+b.csv", Body=b"v2 longer")
    body = client.get_object(Bucket=bucket, Key="raw/2024 Q1/a+b.csv")["Body"].read()
    old = client.get_object(Bucket=bucket, Key="raw/2024 Q1/a+b.csv", VersionId=first["VersionId"])["Body"].read()
    versions = client.list_object_versions(Bucket=bucket, Prefix="raw/")["Versions"]

    assert body == b"v2 longer"
    assert old == b"v1"
    assert first["VersionId"] != second["VersionId"]
    assert {v["VersionId"] for v in versions} == {first["VersionId"], second["VersionId"]}
    assert all(v["Key"] == "raw/2024 Q1/a+b.csv" for v in versions)


def test_wrong_secret_names_the_variables(s3_settings: S3Settings):
    wrong = S3Settings(
        endpoint_url=s3_settings.endpoint_url,
        access_key_id=s3_settings.access_key_id,
        secret_access_key=SecretStr("wrong-secret"),
        max_attempts=1,
    )

    with pytest.raises(ConfigurationError, match="CUSTODY_S3_SECRET_ACCESS_KEY"):
        probe_s3(make_s3_client(wrong), wrong)


def test_closed_port_names_the_endpoint():
    settings = S3Settings(endpoint_url="http://127.0.0.1:1", max_attempts=1, connect_timeout_s=1)

    with pytest.raises(ServiceUnavailableError, match="http://127.0.0.1:1"):
        probe_s3(make_s3_client(settings), settings)
