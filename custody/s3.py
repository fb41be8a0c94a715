"""S3 client factory and a reachability probe."""

from __future__ import annotations

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from custody.errors import ConfigurationError, ServiceUnavailableError
from custody.settings import S3Settings


def make_s3_client(settings: S3Settings) -> BaseClient:
    """Return a boto3 S3 client for the configured endpoint; no request is sent."""
    config = Config(
        region_name=settings.region,
        connect_timeout=settings.connect_timeout_s,
        read_timeout=60,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        # Path-style addressing works with every S3 server, including ones on 127.0.0.1.
        s3={"addressing_style": "path"},
        # Newer botocore sends CRC checksums by default; send them only where an
        # operation requires one, because not every S3 server accepts them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url or None,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def probe_s3(client: BaseClient, settings: S3Settings) -> int:
    """List buckets once; return their count or raise an error naming the endpoint and the fix."""
    endpoint = settings.endpoint_url or "the AWS default endpoint"
    try:
        return len(client.list_buckets().get("Buckets", []))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise ConfigurationError(
                f"S3 at {endpoint} rejected the credentials ({code}); "
                "check CUSTODY_S3_ACCESS_KEY_ID and CUSTODY_S3_SECRET_ACCESS_KEY"
            ) from exc
        raise ServiceUnavailableError(f"S3 at {endpoint} failed ListBuckets: {code}") from exc
    except BotoCoreError as exc:
        raise ServiceUnavailableError(
            f"S3 is not reachable at {endpoint} ({exc}). Start the local stack with `custody dev up`, "
            "or set CUSTODY_S3_ENDPOINT_URL to a running S3 server."
        ) from exc
