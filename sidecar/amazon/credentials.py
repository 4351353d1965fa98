"""Credentials of one Amazon selling-partner account, with secrets that never print.

`Secret` wraps a string so that ``repr``, ``str``, f-strings, logging and tracebacks show
``***``; only :meth:`Secret.reveal` returns the value (call it at the point of use, never
store the result).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

DEFAULT_LWA_URL: Final = "https://api.amazon.com/auth/o2/token"
MASK: Final = "***"


class Secret:
    """A string that refuses to be shown. Compare and hash by value; print as ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # pickling is how secrets leak into caches and crash dumps: refuse it
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True)
class Region:
    name: str
    endpoint: str
    aws_region: str

    @property
    def sandbox_endpoint(self) -> str:
        return sandbox_endpoint(self.endpoint)


# Amazon's SP-API regions: endpoint and the AWS region to sign for.
REGIONS: Final[dict[str, Region]] = {
    "na": Region("na", "https://sellingpartnerapi-na.amazon.com", "us-east-1"),
    "eu": Region("eu", "https://sellingpartnerapi-eu.amazon.com", "eu-west-1"),
    "fe": Region("fe", "https://sellingpartnerapi-fe.amazon.com", "us-west-2"),
}


def sandbox_endpoint(endpoint: str) -> str:
    """https://sellingpartnerapi-eu.amazon.com -> https://sandbox.sellingpartnerapi-eu.amazon.com"""
    parts = urlsplit(endpoint)
    host = parts.netloc
    if host.startswith("sandbox."):
        return endpoint.rstrip("/")
    return f"{parts.scheme}://sandbox.{host}{parts.path}".rstrip("/")


@dataclass(frozen=True)
class AccountCredentials:
    """Everything needed to call SP-API for one account.

    ``endpoint`` is the SP-API base URL (tests and the demo point it at the emulator);
    ``aws_region`` is the region SigV4 signs for. Without AWS keys requests are not signed
    (Amazon ignores the signature since 2023-10-02), with one warning per client.
    """

    lwa_client_id: str
    lwa_client_secret: Secret
    refresh_token: Secret
    endpoint: str = REGIONS["eu"].endpoint
    aws_region: str = REGIONS["eu"].aws_region
    aws_access_key_id: Secret | None = None
    aws_secret_access_key: Secret | None = None
    aws_session_token: Secret | None = field(default=None)
    lwa_url: str = DEFAULT_LWA_URL
    sign_requests: bool = True

    def __post_init__(self) -> None:
        for name in ("lwa_client_secret", "refresh_token"):
            if not isinstance(getattr(self, name), Secret):
                raise TypeError(f"{name} must be a Secret")
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Secret):
                raise TypeError(f"{name} must be a Secret or None")
        for name in ("endpoint", "lwa_url"):
            parts = urlsplit(getattr(self, name))
            if parts.username is not None or parts.password is not None:
                # checked first: the messages below quote the URL
                raise ValueError(f"{name} must not carry credentials (user:password@)")
        if not self.endpoint.startswith(("https://", "http://")):
            raise ValueError(f"endpoint must be an http(s) URL: {self.endpoint!r}")
        object.__setattr__(self, "endpoint", self.endpoint.rstrip("/"))

    @property
    def has_aws_keys(self) -> bool:
        return bool(self.aws_access_key_id) and bool(self.aws_secret_access_key)

    @classmethod
    def for_region(
        cls,
        region: str,
        *,
        lwa_client_id: str,
        lwa_client_secret: Secret,
        refresh_token: Secret,
        sandbox: bool = False,
        aws_access_key_id: Secret | None = None,
        aws_secret_access_key: Secret | None = None,
        aws_session_token: Secret | None = None,
        lwa_url: str = DEFAULT_LWA_URL,
        sign_requests: bool = True,
    ) -> AccountCredentials:
        """Credentials for Amazon's own endpoint of ``region`` ('na', 'eu' or 'fe')."""
        try:
            reg = REGIONS[region.lower()]
        except KeyError:
            raise ValueError(
                f"unknown SP-API region {region!r}; use one of {sorted(REGIONS)}"
            ) from None
        return cls(
            lwa_client_id=lwa_client_id,
            lwa_client_secret=lwa_client_secret,
            refresh_token=refresh_token,
            endpoint=reg.sandbox_endpoint if sandbox else reg.endpoint,
            aws_region=reg.aws_region,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            lwa_url=lwa_url,
            sign_requests=sign_requests,
        )
