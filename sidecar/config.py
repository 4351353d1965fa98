"""Configuration: process settings from the environment, Amazon accounts from a TOML file.

Secrets are never written in the TOML file itself: an account names the environment variable
(`*_env`) or the file (`*_file`, e.g. a Docker/Kubernetes secret) that holds each one.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sidecar.amazon.credentials import REGIONS, AccountCredentials, Secret
from sidecar.domain import AccountSettings, TaxConvention
from sidecar.tables import TABLE_PREFIX_PATTERN

DEFAULT_DB_URL = "sqlite:///var/refund-bridge.sqlite"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Marketplace:
    """One Amazon marketplace a seller account sells in, with its Magento stores."""

    marketplace_id: str
    store_ids: tuple[int, ...] = ()
    currency: str | None = None  # None: not checked


@dataclass(frozen=True)
class AmazonAccount:
    account_id: str
    seller_id: str  # MerchantIdentifier in feed headers
    marketplace_id: str  # the first marketplace (single-marketplace configs: the only one)
    store_ids: tuple[int, ...]  # Magento stores of all its marketplaces
    credentials: AccountCredentials
    settings: AccountSettings
    rate_overrides: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    # empty: one marketplace made of marketplace_id + store_ids (the old shape)
    marketplaces: tuple[Marketplace, ...] = ()

    def __post_init__(self) -> None:
        if not self.marketplaces:
            object.__setattr__(
                self, "marketplaces", (Marketplace(self.marketplace_id, self.store_ids),)
            )

    def marketplace_for_store(self, store_id: int) -> str:
        """The marketplace a Magento store sells in (the first one when none names it)."""
        for marketplace in self.marketplaces:
            if store_id in marketplace.store_ids:
                return marketplace.marketplace_id
        return self.marketplace_id


@dataclass(frozen=True)
class Config:
    database_url: str = field(default=DEFAULT_DB_URL, repr=False)  # may hold the DB password
    accounts: tuple[AmazonAccount, ...] = ()
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    batch_size: int = 50
    lease_seconds: int = 300
    max_attempts: int = 10
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    poll_interval_seconds: float = 2.0
    feed_poll_seconds: float = 30.0
    heartbeat_stale_seconds: float = 120.0
    heartbeat_interval_seconds: float = 10.0  # a worker beats at least this often, mid-cycle too
    order_sync: bool = True  # SIDECAR_ORDER_SYNC: the worker runs the order sync (issue 9)
    admin_token: Secret | None = None
    bind: str = "127.0.0.1:8080"
    db_connect_timeout_seconds: float = 10.0
    db_read_timeout_seconds: float = 30.0
    db_write_timeout_seconds: float = 30.0
    clock_skew_seconds: float = 300.0  # how far Magento's clock may run ahead of ours
    web_secret_key: Secret | None = None  # signs the health page's session cookie
    cookie_secure: bool = False  # set when the page is served over https (a proxy)
    table_prefix: str = ""  # Magento's db table_prefix (SIDECAR_TABLE_PREFIX)

    def account_for_store(self, store_id: int) -> AmazonAccount | None:
        for account in self.accounts:
            if store_id in account.store_ids:
                return account
        return None

    def account(self, account_id: str) -> AmazonAccount:
        for account in self.accounts:
            if account.account_id == account_id:
                return account
        raise KeyError(account_id)


def _secret(
    spec: Mapping[str, object], name: str, env: Mapping[str, str], *, required: bool
) -> Secret | None:
    """Resolve `<name>_env` or `<name>_file`; a literal `<name>` in the file is refused."""
    if name in spec:
        raise ConfigError(
            f"{name}: put secrets in the environment ({name}_env) or a file ({name}_file)"
        )
    if f"{name}_env" in spec:
        var = str(spec[f"{name}_env"])
        value = env.get(var)
        if value:
            return Secret(value)
        if required:
            raise ConfigError(f"{name}: environment variable {var} is not set")
        return None
    if f"{name}_file" in spec:
        path = Path(str(spec[f"{name}_file"]))
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
        if value:
            return Secret(value)
        if required:
            raise ConfigError(f"{name}: file {path} is empty")
        return None
    if required:
        raise ConfigError(f"{name}: give {name}_env or {name}_file")
    return None


def _required_secret(spec: Mapping[str, object], name: str, env: Mapping[str, str]) -> Secret:
    secret = _secret(spec, name, env, required=True)
    if secret is None:  # _secret raises first; this keeps the type honest
        raise ConfigError(f"{name} is required")
    return secret


def _tax_convention(spec: Mapping[str, object]) -> TaxConvention:
    """Only "net_plus_tax": "gross" sent VAT-inclusive Principal, which Amazon refunds with
    the VAT added a second time (docs/rules.md, "Tax-inclusive marketplaces")."""
    convention = TaxConvention(str(spec.get("tax_convention", TaxConvention.NET_PLUS_TAX)))
    if convention is TaxConvention.GROSS:
        raise ConfigError(
            'tax_convention "gross" is no longer supported: Amazon takes refunds on '
            "tax-inclusive marketplaces (EU, UK, JP) VAT-exclusive and adds the VAT itself, so "
            "a gross Principal refunds the VAT twice. Remove the key (or set \"net_plus_tax\"): "
            "the sidecar sends net amounts and, where prices include VAT, no tax component"
        )
    return convention


def _store_ids(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in value
    ):
        raise ConfigError("store_ids must be a list of Magento store ids")
    return tuple(value)


def _marketplaces(spec: Mapping[str, object]) -> tuple[Marketplace, ...]:
    """``[[accounts.X.marketplaces]]`` tables, or the old account-level ``marketplace_id``
    + ``store_ids`` (one marketplace)."""
    raw = spec.get("marketplaces")
    if raw is None:
        return (Marketplace(str(spec["marketplace_id"]), _store_ids(spec.get("store_ids", []))),)
    if "marketplace_id" in spec or "store_ids" in spec:
        raise ConfigError("give either marketplaces or marketplace_id/store_ids, not both")
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise ConfigError("marketplaces must be a list of [[accounts.<id>.marketplaces]] tables")
    out: list[Marketplace] = []
    for m in raw:
        currency = m.get("currency")
        if currency is not None and not (isinstance(currency, str) and len(currency) == 3):
            raise ConfigError(f"marketplace {m.get('marketplace_id')}: currency must be an "
                              "ISO 4217 code such as EUR")
        out.append(Marketplace(str(m["marketplace_id"]), _store_ids(m.get("store_ids", [])),
                               currency))
    ids = [m.marketplace_id for m in out]
    stores = [s for m in out for s in m.store_ids]
    if len(set(ids)) != len(ids):
        raise ConfigError("a marketplace is listed twice")
    if len(set(stores)) != len(stores):
        raise ConfigError("a Magento store belongs to at most one marketplace")
    return tuple(out)


def _account(account_id: str, spec: Mapping[str, object], env: Mapping[str, str]) -> AmazonAccount:
    try:
        region = str(spec.get("region", "eu")).lower()
        if region not in REGIONS:
            raise ConfigError(f"region must be one of {', '.join(REGIONS)}")
        default_endpoint, default_aws_region = REGIONS[region].endpoint, REGIONS[region].aws_region
        credentials = AccountCredentials(
            lwa_client_id=str(spec["lwa_client_id"]),
            lwa_client_secret=_required_secret(spec, "lwa_client_secret", env),
            refresh_token=_required_secret(spec, "refresh_token", env),
            aws_access_key_id=_secret(spec, "aws_access_key_id", env, required=False),
            aws_secret_access_key=_secret(spec, "aws_secret_access_key", env, required=False),
            endpoint=str(spec.get("endpoint", default_endpoint)).rstrip("/"),
            aws_region=str(spec.get("aws_region", default_aws_region)),
            lwa_url=str(spec.get("lwa_url", "https://api.amazon.com/auth/o2/token")),
            sign_requests=bool(spec.get("sign_requests", True)),
        )
        settings = AccountSettings(
            account_id=account_id,
            refund_on_creditmemo=bool(spec.get("refund_on_creditmemo", False)),
            create_order_in_magento=bool(spec.get("create_order_in_magento", True)),
            adjustment_fee_as_restocking_fee=bool(
                spec.get("adjustment_fee_as_restocking_fee", False)
            ),
            tax_convention=_tax_convention(spec),
            upload_hosts=_upload_hosts(spec.get("upload_hosts", [])),
            confirm_shipments=bool(spec.get("confirm_shipments", True)),
        )
        raw_rates = spec.get("rate_limits", {})
        rates: dict[str, tuple[str, int]] = {}
        if isinstance(raw_rates, Mapping):
            for op, value in raw_rates.items():
                rate, burst = value  # [ "0.5", 15 ]: rate as a string keeps it exact
                rates[str(op)] = (str(rate), int(burst))
        marketplaces = _marketplaces(spec)
        return AmazonAccount(
            account_id=account_id,
            seller_id=str(spec["seller_id"]),
            marketplace_id=marketplaces[0].marketplace_id,
            store_ids=tuple(s for m in marketplaces for s in m.store_ids),
            credentials=credentials,
            settings=settings,
            rate_overrides=rates,
            marketplaces=marketplaces,
        )
    except KeyError as exc:
        raise ConfigError(f"account {account_id!r}: missing {exc.args[0]}") from None
    except (ConfigError, ValueError, TypeError) as exc:
        raise ConfigError(f"account {account_id!r}: {exc}") from None


def _upload_hosts(value: object) -> tuple[str, ...]:
    """`upload_hosts`: origins the feed upload may go to (docs/feeds.md, "Upload hosts")."""
    if not isinstance(value, list) or not all(isinstance(h, str) and h for h in value):
        raise ConfigError('upload_hosts must be a list of origins, e.g. ["http://127.0.0.1:8123"]')
    return tuple(value)


def load_accounts(path: Path, env: Mapping[str, str]) -> tuple[AmazonAccount, ...]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read accounts file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"accounts file {path}: {exc}") from None
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ConfigError("[accounts.<id>] tables expected")
    return tuple(_account(str(k), v, env) for k, v in accounts.items())


def _database_url(url: str) -> str:
    """Refuse a URL SQLAlchemy would misread, without quoting it (it holds the password).

    An unencoded '@' in the password makes SQLAlchemy read the rest of the password as the
    host or the port, which then shows up in ValueError and connection errors."""
    try:
        host = make_url(url).host
        valid = host is None or "@" not in host
    except (ArgumentError, ValueError):  # ValueError quotes the misread port
        valid = False
    if not valid:
        raise ConfigError(
            "SIDECAR_DATABASE_URL is not a valid database URL (value not shown); "
            "percent-encode special characters in the user and password, e.g. @ as %40, "
            ": as %3A, / as %2F"
        )
    return url


def _secret_setting(env: Mapping[str, str], name: str) -> str | None:
    """NAME from the environment, or the contents of the file NAME_FILE names."""
    value = (env.get(name) or "").strip()
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None


def from_env(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env

    def num(name: str, default: float) -> float:
        raw = env.get(name)
        try:
            return default if raw is None else float(raw)  # seconds/counts, never money
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None

    def positive(name: str, default: float) -> float:
        value = num(name, default)
        if value <= 0:
            raise ConfigError(f"{name} must be greater than 0, got {value}")
        return value

    accounts_file = env.get("SIDECAR_ACCOUNTS_FILE")
    token = (env.get("SIDECAR_ADMIN_TOKEN") or "").strip() or None
    token_file = env.get("SIDECAR_ADMIN_TOKEN_FILE")
    if token_file and not token:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"SIDECAR_ADMIN_TOKEN_FILE: cannot read {token_file}: {exc.strerror}"
            ) from None
    prefix = env.get("SIDECAR_TABLE_PREFIX", "")
    if not TABLE_PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(
            "SIDECAR_TABLE_PREFIX: only letters, digits and '_' (at most 32), as Magento's "
            "db table_prefix"
        )
    kwargs: dict[str, object] = {}
    secret_key = _secret_setting(env, "SIDECAR_SECRET_KEY")
    if secret_key:
        kwargs["web_secret_key"] = Secret(secret_key)
    if env.get("SIDECAR_WORKER_ID"):
        kwargs["worker_id"] = env["SIDECAR_WORKER_ID"]
    return Config(
        database_url=_database_url(env.get("SIDECAR_DATABASE_URL", DEFAULT_DB_URL)),
        accounts=load_accounts(Path(accounts_file), env) if accounts_file else (),
        batch_size=int(num("SIDECAR_BATCH_SIZE", 50)),
        lease_seconds=int(num("SIDECAR_LEASE_SECONDS", 300)),
        max_attempts=int(num("SIDECAR_MAX_ATTEMPTS", 10)),
        backoff_base_seconds=num("SIDECAR_BACKOFF_BASE_SECONDS", 5.0),
        backoff_max_seconds=num("SIDECAR_BACKOFF_MAX_SECONDS", 3600.0),
        poll_interval_seconds=num("SIDECAR_POLL_INTERVAL_SECONDS", 2.0),
        feed_poll_seconds=num("SIDECAR_FEED_POLL_SECONDS", 30.0),
        heartbeat_stale_seconds=num("SIDECAR_HEARTBEAT_STALE_SECONDS", 120.0),
        heartbeat_interval_seconds=positive("SIDECAR_HEARTBEAT_INTERVAL_SECONDS", 10.0),
        order_sync=env.get("SIDECAR_ORDER_SYNC", "on").strip().lower()
        not in ("0", "off", "false", "no"),
        admin_token=Secret(token) if token else None,
        bind=env.get("SIDECAR_BIND", "127.0.0.1:8080"),
        db_connect_timeout_seconds=positive("SIDECAR_DB_CONNECT_TIMEOUT_SECONDS", 10.0),
        db_read_timeout_seconds=positive("SIDECAR_DB_READ_TIMEOUT_SECONDS", 30.0),
        db_write_timeout_seconds=positive("SIDECAR_DB_WRITE_TIMEOUT_SECONDS", 30.0),
        clock_skew_seconds=num("SIDECAR_CLOCK_SKEW_SECONDS", 300.0),
        cookie_secure=env.get("SIDECAR_COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
        table_prefix=prefix,
        **kwargs,  # type: ignore[arg-type]
    )
