"""Request headers for SP-API calls, with optional AWS SigV4 signing (botocore).

Amazon stopped requiring SigV4 on 2023-10-02 (a signature is accepted and ignored); the
product signs by default because the deployment asked for it, and works without it:
``AccountCredentials.sign_requests=False`` switches signing off, and missing AWS keys skip it
with a single warning per signer.

Signed headers: ``host``, ``x-amz-access-token``, ``x-amz-date`` (and ``content-type`` when
there is a body), service ``execute-api``, the account's AWS region.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sidecar.amazon.credentials import AccountCredentials, Secret

log = logging.getLogger(__name__)

SERVICE = "execute-api"
USER_AGENT = "refund-bridge/0.1 (Language=Python)"
ACCESS_TOKEN_HEADER = "x-amz-access-token"  # noqa: S105 - a header name

_SECRET_HEADER_RE = re.compile(r"(x-amz-access-token|x-amz-security-token)(\s*:\s*)[^\n]*",
                               re.IGNORECASE)


class _RedactBotocoreDebug(logging.Filter):
    """botocore.auth logs the canonical request at DEBUG, header values included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = _SECRET_HEADER_RE.sub(r"\1\2***", record.getMessage())
            record.args = None
        elif isinstance(record.msg, str):
            record.msg = _SECRET_HEADER_RE.sub(r"\1\2***", record.msg)
        return True


_redaction_lock = threading.Lock()
_redaction_installed = False


def install_botocore_redaction() -> None:
    """Idempotently keep access/session tokens out of botocore's DEBUG log lines."""
    global _redaction_installed
    with _redaction_lock:
        if not _redaction_installed:
            logging.getLogger("botocore.auth").addFilter(_RedactBotocoreDebug())
            _redaction_installed = True


def host_header(url: str) -> str:
    """The Host value for ``url``: lower case, default ports dropped (as SigV4 wants it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return host


class RequestSigner:
    """Builds the headers of one SP-API request for one account."""

    def __init__(self, account_id: str, creds: AccountCredentials) -> None:
        self.account_id = account_id
        self._creds = creds
        self._warned = False
        self._lock = threading.Lock()
        install_botocore_redaction()

    @property
    def will_sign(self) -> bool:
        return self._creds.sign_requests and self._creds.has_aws_keys

    def _warn_unsigned_once(self) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        log.warning(
            "account %s: AWS access keys are not configured, SP-API requests are sent "
            "unsigned (Amazon does not require SigV4 since 2023-10-02)", self.account_id,
        )

    def headers(
        self,
        method: str,
        url: str,
        access_token: Secret,
        body: bytes | None = None,
        content_type: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """All headers for the request: access token, user agent, host, date, signature.

        ``url`` must be exactly the URL that is sent (query string already encoded).
        """
        base: dict[str, str] = {
            "host": host_header(url),
            ACCESS_TOKEN_HEADER: access_token.reveal(),
        }
        if content_type is not None:
            base["content-type"] = content_type
        if extra:
            base.update(extra)
        if self._creds.sign_requests and not self._creds.has_aws_keys:
            self._warn_unsigned_once()
        if not self.will_sign:
            base["x-amz-date"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            base["user-agent"] = USER_AGENT
            return base
        key_id = self._creds.aws_access_key_id
        secret = self._creds.aws_secret_access_key
        token = self._creds.aws_session_token
        assert key_id is not None  # has_aws_keys
        assert secret is not None
        botocreds = Credentials(key_id.reveal(), secret.reveal(),
                                token.reveal() if token else None)
        aws_request = AWSRequest(method=method.upper(), url=url, data=body or b"",
                                 headers=dict(base))
        SigV4Auth(botocreds, SERVICE, self._creds.aws_region).add_auth(aws_request)
        signed = {k: str(v) for k, v in aws_request.headers.items()}
        signed["user-agent"] = USER_AGENT  # never signed (botocore's blacklist)
        return signed
