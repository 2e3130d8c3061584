"""botocore failures turned into `ToolError`s an operator can act on.

A raw `ClientError` says "AccessDenied when calling the ListObjectsV2 operation"; what the
operator needs is the IAM action to grant (`s3:ListBucket`) and to whom. Everything that leaves
this backend is therefore an `AwsCallError` (a `ToolError`, so the registry reports it as a
structured result) that names the action, keeps the AWS error code for callers that handle
specific codes, and carries a hint.
"""

from __future__ import annotations

import re
from typing import Any

from tools.registry import ToolError

DOCS = "docs/aws.md"

ACCESS_DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
    "AuthorizationError", "Forbidden", "403",
})
THROTTLED = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded", "EC2ThrottledException", "PriorRequestNotComplete",
})
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
BAD_CREDENTIALS = frozenset({
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId",
    "AuthFailure", "IncompleteSignature", "InvalidSignatureException",
})

# Operation names whose IAM action is spelled differently (S3 mostly); the rest are service:Operation.
_IAM_ACTION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "GetBucketLocation"): "s3:GetBucketLocation",
}
# AWS names the denied action in the message ("... is not authorized to perform: iam:PassRole on ...");
# that beats our guess from the operation (a PassRole denial surfaces on StartAutomationExecution).
_DENIED_ACTION = re.compile(r"not authorized to perform:?\s+([a-z0-9-]+:[A-Za-z0-9*]+)")

CREDENTIALS_HINT = (
    "give a profile (--profile or AWS_PROFILE), or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    f"or run `aws sso login`; {DOCS} lists the permissions sopgraph's role needs"
)


class AwsCallError(ToolError):
    """A failed AWS call: `aws_code` is the AWS error code (or the botocore exception name)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str = "aws_error",
        aws_code: str | None = None,
        operation: str | None = None,
    ):
        super().__init__(message, hint=hint, code=code)
        self.aws_code = aws_code
        self.operation = operation

    def __str__(self) -> str:
        return self.message


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorises `operation` of `service` (the client's name: ssm, s3, ec2, eks)."""
    return _IAM_ACTION.get((service, operation), f"{service}:{operation}")


def denied_action(message: str, service: str, operation: str) -> str:
    m = _DENIED_ACTION.search(message or "")
    return m.group(1) if m else iam_action(service, operation)


def _client_error_parts(exc: Any) -> tuple[str, str]:
    err = (getattr(exc, "response", None) or {}).get("Error", {}) or {}
    code = str(err.get("Code") or "")
    if not code:
        status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(status or "Unknown")
    return code, str(err.get("Message") or "")


def from_botocore(exc: Exception, *, service: str, operation: str, region: str | None) -> AwsCallError:
    """Translate any botocore exception raised by `service.operation` into an `AwsCallError`."""
    from botocore import exceptions as bx

    where = f" in {region}" if region else ""
    if isinstance(exc, bx.ClientError):
        aws_code, message = _client_error_parts(exc)
        op = getattr(exc, "operation_name", None) or operation
        if aws_code in ACCESS_DENIED:
            action = denied_action(message, service, op)
            return AwsCallError(
                f"AWS denied {action}{where}: {message or aws_code}",
                hint=f"grant {action} to the identity sopgraph runs as ({DOCS} lists every permission it needs)",
                code="aws_access_denied", aws_code=aws_code, operation=op,
            )
        if aws_code in THROTTLED:
            return AwsCallError(
                f"AWS kept throttling {iam_action(service, op)}{where} after the retries botocore made: {aws_code}",
                hint="wait a minute and call again, or raise AWS_MAX_ATTEMPTS / `max_attempts`",
                code="aws_throttled", aws_code=aws_code, operation=op,
            )
        if aws_code in EXPIRED:
            return AwsCallError(
                f"the AWS credentials have expired ({aws_code})",
                hint="refresh them (`aws sso login`, or new temporary keys) and run again",
                code="aws_credentials", aws_code=aws_code, operation=op,
            )
        if aws_code in BAD_CREDENTIALS:
            return AwsCallError(
                f"AWS rejected the credentials when calling {iam_action(service, op)}{where}: {aws_code}",
                hint=CREDENTIALS_HINT, code="aws_credentials", aws_code=aws_code, operation=op,
            )
        return AwsCallError(
            f"{iam_action(service, op)}{where} failed: {aws_code}: {message}".rstrip(": "),
            code="aws_error", aws_code=aws_code, operation=op,
        )
    name = type(exc).__name__
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return AwsCallError(f"no usable AWS credentials: {exc}", hint=CREDENTIALS_HINT, code="aws_credentials",
                            aws_code=name, operation=operation)
    if isinstance(exc, bx.ProfileNotFound):
        return AwsCallError(str(exc), hint="check --profile / AWS_PROFILE against ~/.aws/config",
                            code="aws_credentials", aws_code=name, operation=operation)
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOError | bx.UnauthorizedSSOTokenError):
        return AwsCallError(f"AWS SSO login needed: {exc}", hint="run `aws sso login` for the profile",
                            code="aws_credentials", aws_code=name, operation=operation)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return AwsCallError(
            f"cannot reach AWS for {iam_action(service, operation)}{where}: {exc}",
            hint="check the network, a proxy, or --endpoint-url",
            code="aws_unreachable", aws_code=name, operation=operation,
        )
    return AwsCallError(f"{iam_action(service, operation)}{where} failed: {name}: {exc}",
                        code="aws_error", aws_code=name, operation=operation)
