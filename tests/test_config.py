"""sidecar.config: process settings from the environment, Amazon accounts from TOML, secrets
only by reference (`*_env` / `*_file`) and never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.amazon.credentials import REGIONS, Secret
from sidecar.config import DEFAULT_DB_URL, Config, ConfigError, from_env, load_accounts
from sidecar.domain import TaxConvention

CLIENT_SECRET = "lwa-client-secret-3b8f1d"
REFRESH_TOKEN = "Atzr|refresh-token-9c2e7a"
AWS_KEY_ID = "AKIAEXAMPLEKEYID0001"
AWS_SECRET = "aws-secret-access-key-5d4c3b"
ALL_SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, AWS_KEY_ID, AWS_SECRET)

BASE = """
[accounts.eu-main]
seller_id = "A1EXAMPLESELLER"
marketplace_id = "A1PA6795UKMFR9"
store_ids = [1, 4]
lwa_client_id = "amzn1.application-oa2-client.xxx"
"""


@pytest.fixture
def refresh_file(tmp_path: Path) -> Path:
    path = tmp_path / "refresh_token"
    path.write_text(f"{REFRESH_TOKEN}\n", encoding="utf-8")  # trailing newline, as echo writes
    return path


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(body, encoding="utf-8")
    return path


def full_toml(refresh_file: Path) -> str:
    return BASE + f"""
region = "eu"
refund_on_creditmemo = true
tax_convention = "net_plus_tax"
lwa_client_secret_env = "EU_LWA_CLIENT_SECRET"
refresh_token_file = "{refresh_file}"
aws_access_key_id_env = "EU_AWS_ACCESS_KEY_ID"
aws_secret_access_key_env = "EU_AWS_SECRET_ACCESS_KEY"
rate_limits = {{ getOrder = ["0.5", 30] }}

[accounts.us]
seller_id = "A2US"
marketplace_id = "ATVPDKIKX0DER"
region = "NA"
store_ids = [2]
lwa_client_id = "amzn1.application-oa2-client.us"
lwa_client_secret_env = "EU_LWA_CLIENT_SECRET"
refresh_token_env = "US_REFRESH_TOKEN"
"""


ENV = {
    "EU_LWA_CLIENT_SECRET": CLIENT_SECRET,
    "EU_AWS_ACCESS_KEY_ID": AWS_KEY_ID,
    "EU_AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "US_REFRESH_TOKEN": REFRESH_TOKEN,
}


def test_secrets_resolve_from_env_and_files(tmp_path: Path, refresh_file: Path) -> None:
    eu, us = load_accounts(write(tmp_path, full_toml(refresh_file)), ENV)
    assert eu.account_id == "eu-main"
    assert eu.seller_id == "A1EXAMPLESELLER"
    assert eu.store_ids == (1, 4)
    c = eu.credentials
    assert c.lwa_client_id == "amzn1.application-oa2-client.xxx"
    assert c.lwa_client_secret == Secret(CLIENT_SECRET)
    assert c.refresh_token.reveal() == REFRESH_TOKEN  # stripped of the file's newline
    assert c.aws_access_key_id == Secret(AWS_KEY_ID)
    assert c.aws_secret_access_key == Secret(AWS_SECRET)
    assert c.has_aws_keys
    assert eu.settings.refund_on_creditmemo is True
    assert eu.settings.tax_convention is TaxConvention.NET_PLUS_TAX
    assert eu.rate_overrides == {"getOrder": ("0.5", 30)}
    # region is case-insensitive; AWS keys are optional
    assert (us.credentials.endpoint, us.credentials.aws_region) == (
        REGIONS["na"].endpoint, REGIONS["na"].aws_region)
    assert us.credentials.aws_access_key_id is None
    assert not us.credentials.has_aws_keys


def test_region_and_setting_defaults(tmp_path: Path) -> None:
    (acct,) = load_accounts(write(tmp_path, BASE + """
lwa_client_secret_env = "S"
refresh_token_env = "R"
"""), {"S": "s", "R": "r"})
    c = acct.credentials
    assert c.endpoint == REGIONS["eu"].endpoint == "https://sellingpartnerapi-eu.amazon.com"
    assert c.aws_region == "eu-west-1"
    assert c.lwa_url == "https://api.amazon.com/auth/o2/token"
    assert c.sign_requests is True
    assert acct.settings.refund_on_creditmemo is False  # off until the merchant turns it on
    assert acct.settings.create_order_in_magento is True
    assert acct.settings.tax_convention is TaxConvention.NET_PLUS_TAX
    assert acct.rate_overrides == {}


@pytest.mark.parametrize(("region", "endpoint", "aws_region"), [
    ("na", "https://sellingpartnerapi-na.amazon.com", "us-east-1"),
    ("eu", "https://sellingpartnerapi-eu.amazon.com", "eu-west-1"),
    ("fe", "https://sellingpartnerapi-fe.amazon.com", "us-west-2"),
])
def test_regions(tmp_path: Path, region: str, endpoint: str, aws_region: str) -> None:
    (acct,) = load_accounts(write(tmp_path, BASE + f"""
region = "{region}"
lwa_client_secret_env = "S"
refresh_token_env = "R"
"""), {"S": "s", "R": "r"})
    assert (acct.credentials.endpoint, acct.credentials.aws_region) == (endpoint, aws_region)


def test_endpoint_overrides(tmp_path: Path) -> None:
    (acct,) = load_accounts(write(tmp_path, BASE + """
region = "fe"
endpoint = "http://127.0.0.1:9000/"
aws_region = "us-east-1"
lwa_url = "http://127.0.0.1:9000/auth/o2/token"
sign_requests = false
lwa_client_secret_env = "S"
refresh_token_env = "R"
"""), {"S": "s", "R": "r"})
    c = acct.credentials
    assert c.endpoint == "http://127.0.0.1:9000"
    assert c.aws_region == "us-east-1"
    assert c.lwa_url == "http://127.0.0.1:9000/auth/o2/token"
    assert c.sign_requests is False


def test_unknown_region_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + 'region = "mars"\nlwa_client_secret_env = "S"\n'
                 'refresh_token_env = "R"\n')
    with pytest.raises(ConfigError, match=r"account 'eu-main': region must be one of na, eu, fe"):
        load_accounts(path, {"S": "s", "R": "r"})


@pytest.mark.parametrize("name", ["lwa_client_secret", "refresh_token", "aws_secret_access_key",
                                  "aws_access_key_id"])
def test_an_inline_secret_is_refused(tmp_path: Path, name: str) -> None:
    inline = "inline-secret-value-42"
    path = write(tmp_path, BASE + f"""
lwa_client_secret_env = "S"
refresh_token_env = "R"
{name} = "{inline}"
""")
    with pytest.raises(ConfigError) as err:
        load_accounts(path, {"S": "s", "R": "r"})
    message = str(err.value)
    assert message == (f"account 'eu-main': {name}: put secrets in the environment "
                       f"({name}_env) or a file ({name}_file)")
    assert inline not in message


def test_a_missing_env_var_is_named_but_no_secret_is(tmp_path: Path,
                                                     refresh_file: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "EU_LWA_CLIENT_SECRET"}
    with pytest.raises(ConfigError) as err:
        load_accounts(write(tmp_path, full_toml(refresh_file)), env)
    message = str(err.value)
    assert "EU_LWA_CLIENT_SECRET" in message
    assert "lwa_client_secret" in message
    assert "eu-main" in message
    for secret in ALL_SECRETS:
        assert secret not in message


def test_an_empty_env_var_counts_as_missing(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + 'lwa_client_secret_env = "S"\nrefresh_token_env = "R"\n')
    with pytest.raises(ConfigError, match="environment variable R is not set"):
        load_accounts(path, {"S": "s", "R": ""})


def test_an_optional_secret_may_be_missing(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + 'lwa_client_secret_env = "S"\nrefresh_token_env = "R"\n'
                 'aws_access_key_id_env = "NOPE"\naws_secret_access_key_env = "NOPE2"\n')
    (acct,) = load_accounts(path, {"S": "s", "R": "r"})
    assert acct.credentials.aws_access_key_id is None
    assert acct.credentials.aws_secret_access_key is None


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    path = write(tmp_path, BASE + f'lwa_client_secret_env = "S"\nrefresh_token_file = "{missing}"\n')
    with pytest.raises(ConfigError, match=rf"refresh_token: cannot read {missing}: "):
        load_accounts(path, {"S": "s"})


def test_an_empty_required_secret_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    path = write(tmp_path, BASE + f'lwa_client_secret_env = "S"\nrefresh_token_file = "{empty}"\n')
    with pytest.raises(ConfigError, match=rf"refresh_token: file {empty} is empty"):
        load_accounts(path, {"S": "s"})


def test_a_secret_without_any_reference_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + 'lwa_client_secret_env = "S"\n')
    with pytest.raises(ConfigError,
                       match="refresh_token: give refresh_token_env or refresh_token_file"):
        load_accounts(path, {"S": "s"})


@pytest.mark.parametrize(("body", "match"), [
    ('[accounts.a]\nseller_id = "x"\n', r"account 'a': missing lwa_client_id"),
    ('[accounts.a]\nseller_id = "x"\nlwa_client_id = "c"\nlwa_client_secret_env = "S"\n'
     'refresh_token_env = "R"\n', r"account 'a': missing marketplace_id"),
    ('[accounts.a]\nseller_id = "x"\nmarketplace_id = "m"\nlwa_client_id = "c"\n'
     'lwa_client_secret_env = "S"\nrefresh_token_env = "R"\nstore_ids = 1\n',
     "store_ids must be a list of Magento store ids"),
    ('[accounts.a]\nseller_id = "x"\nmarketplace_id = "m"\nlwa_client_id = "c"\n'
     'lwa_client_secret_env = "S"\nrefresh_token_env = "R"\nstore_ids = ["1"]\n',
     "store_ids must be a list of Magento store ids"),
    ('[accounts.a]\nseller_id = "x"\nmarketplace_id = "m"\nlwa_client_id = "c"\n'
     'lwa_client_secret_env = "S"\nrefresh_token_env = "R"\ntax_convention = "weird"\n',
     "account 'a':.*weird"),
    ("accounts = 3\n", r"\[accounts.<id>\] tables expected"),
    ("this is = not toml [", "accounts file"),
])
def test_bad_accounts_files(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_accounts(write(tmp_path, body), {"S": "s", "R": "r"})


def test_missing_accounts_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read accounts file"):
        load_accounts(tmp_path / "nope.toml", {})


def test_repr_and_str_never_show_a_secret(tmp_path: Path, refresh_file: Path) -> None:
    db_password = "db-pass-6e1f0a"
    token = "admin-token-2d7c8b"
    env = {
        **ENV,
        "SIDECAR_ACCOUNTS_FILE": str(write(tmp_path, full_toml(refresh_file))),
        "SIDECAR_DATABASE_URL": f"mysql+pymysql://magento:{db_password}@db/magento",
        "SIDECAR_ADMIN_TOKEN": token,
    }
    cfg = from_env(env)
    assert cfg.admin_token == Secret(token)
    assert cfg.database_url.endswith(f"{db_password}@db/magento")
    shown = [repr(cfg), str(cfg), f"{cfg}", f"{cfg!r}"]
    for acct in cfg.accounts:
        shown += [repr(acct), str(acct), repr(acct.credentials), f"{acct.credentials}"]
    assert "eu-main" in repr(cfg) and "***" in repr(cfg)
    for text in shown:
        for secret in (*ALL_SECRETS, token, db_password):
            assert secret not in text


def test_account_for_store(tmp_path: Path, refresh_file: Path) -> None:
    cfg = Config(accounts=load_accounts(write(tmp_path, full_toml(refresh_file)), ENV))
    eu = cfg.account_for_store(1)
    assert eu is not None and eu.account_id == "eu-main"
    assert cfg.account_for_store(4) is eu
    us = cfg.account_for_store(2)
    assert us is not None and us.account_id == "us"
    assert cfg.account_for_store(3) is None
    assert cfg.account("us") is us
    with pytest.raises(KeyError):
        cfg.account("nope")


def test_env_defaults() -> None:
    cfg = from_env({})
    assert cfg.database_url == DEFAULT_DB_URL
    assert cfg.accounts == ()
    assert (cfg.batch_size, cfg.lease_seconds, cfg.max_attempts) == (50, 300, 10)
    assert (cfg.backoff_base_seconds, cfg.backoff_max_seconds) == (5.0, 3600.0)
    assert (cfg.poll_interval_seconds, cfg.feed_poll_seconds) == (2.0, 30.0)
    assert cfg.admin_token is None
    assert cfg.bind == "127.0.0.1:8080"
    assert cfg.worker_id  # host:pid


def test_env_settings(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n", encoding="utf-8")
    cfg = from_env({
        "SIDECAR_BATCH_SIZE": "7", "SIDECAR_LEASE_SECONDS": "60", "SIDECAR_MAX_ATTEMPTS": "3",
        "SIDECAR_BACKOFF_BASE_SECONDS": "0.5", "SIDECAR_POLL_INTERVAL_SECONDS": "0.25",
        "SIDECAR_WORKER_ID": "w-9", "SIDECAR_BIND": "0.0.0.0:9000",
        "SIDECAR_ADMIN_TOKEN_FILE": str(token_file),
    })
    assert (cfg.batch_size, cfg.lease_seconds, cfg.max_attempts) == (7, 60, 3)
    assert (cfg.backoff_base_seconds, cfg.poll_interval_seconds) == (0.5, 0.25)
    assert cfg.worker_id == "w-9"
    assert cfg.bind == "0.0.0.0:9000"
    assert cfg.admin_token == Secret("from-file")
    # the variable wins over the file
    both = from_env({"SIDECAR_ADMIN_TOKEN": "direct", "SIDECAR_ADMIN_TOKEN_FILE": str(token_file)})
    assert both.admin_token == Secret("direct")


def test_bad_env_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SIDECAR_BATCH_SIZE must be a number, got 'lots'"):
        from_env({"SIDECAR_BATCH_SIZE": "lots"})
    missing = tmp_path / "no-token"
    with pytest.raises(ConfigError, match=f"SIDECAR_ADMIN_TOKEN_FILE: cannot read {missing}"):
        from_env({"SIDECAR_ADMIN_TOKEN_FILE": str(missing)})


@pytest.mark.parametrize("url", [
    "mysql+pymysql://bridge:pa@ss:wordX@db/magento",  # '@' and ':' -> 'wordX@db' read as port
    "mysql+pymysql://bridge:pa@ssX@db:3306/magento",  # '@' -> 'ssX@db' read as the host
    "not a database url ssX wordX",
])
def test_a_database_url_that_does_not_parse_is_refused_without_quoting_it(url: str) -> None:
    # SQLAlchemy would put the rest of the password into the port (ValueError quoting it) or
    # the host (pymysql's "Can't connect to MySQL server on 'ssX@db'", logged on every check)
    with pytest.raises(ConfigError, match="SIDECAR_DATABASE_URL") as info:
        from_env({"SIDECAR_DATABASE_URL": url})
    assert "wordX" not in str(info.value) and "ssX" not in str(info.value)
    assert "%40" in str(info.value)  # says how to write it


def test_a_percent_encoded_password_is_fine() -> None:
    url = "mysql+pymysql://bridge:pa%40ss%3Aword@db:3306/magento"
    assert from_env({"SIDECAR_DATABASE_URL": url}).database_url == url


def test_upload_hosts_default_to_amazons_and_may_name_the_emulator(
    tmp_path: Path, refresh_file: Path
) -> None:
    """Issue 7 item 14: empty by default (Amazon's document hosts over https only); an
    account may list the emulator's origin. A bare string is refused, not split."""
    eu, _ = load_accounts(write(tmp_path, full_toml(refresh_file)), ENV)
    assert eu.settings.upload_hosts == ()
    body = full_toml(refresh_file).replace(
        'region = "eu"', 'region = "eu"\nupload_hosts = ["http://127.0.0.1:8123"]')
    eu, _ = load_accounts(write(tmp_path, body), ENV)
    assert eu.settings.upload_hosts == ("http://127.0.0.1:8123",)
    bad = full_toml(refresh_file).replace(
        'region = "eu"', 'region = "eu"\nupload_hosts = "http://127.0.0.1:8123"')
    with pytest.raises(ConfigError, match="upload_hosts must be a list"):
        load_accounts(write(tmp_path, bad), ENV)


def test_the_compose_account_allows_the_emulator_host() -> None:
    path = Path(__file__).resolve().parent.parent / "docker" / "accounts.toml"
    env = {"EMULATOR_LWA_CLIENT_SECRET": "s", "EMULATOR_REFRESH_TOKEN": "t"}
    (demo,) = load_accounts(path, env)
    assert demo.settings.upload_hosts == (demo.credentials.endpoint,)


def test_tax_convention_gross_refuses_to_start(tmp_path: Path) -> None:
    # "gross" sent VAT-inclusive Principal: Amazon adds the VAT again (issue 8, item 1)
    body = BASE + 'lwa_client_secret_env = "S"\nrefresh_token_env = "R"\ntax_convention = "gross"\n'
    with pytest.raises(ConfigError, match='tax_convention "gross" is no longer supported'):
        load_accounts(write(tmp_path, body), {"S": "s", "R": "r"})


def test_confirm_shipments_per_account_defaults_to_true(tmp_path: Path, refresh_file: Path) -> None:
    body = full_toml(refresh_file).replace(
        'region = "eu"', 'region = "eu"\nconfirm_shipments = false'
    )
    cfg = Config(accounts=load_accounts(write(tmp_path, body), ENV))
    assert cfg.account("eu-main").settings.confirm_shipments is False
    assert cfg.account("us").settings.confirm_shipments is True


# ------------------------------------------- issue 9 §4: an account holds its marketplaces

MULTI = """
[accounts.na]
seller_id = "A2US"
region = "na"
lwa_client_id = "amzn1.application-oa2-client.us"
lwa_client_secret_env = "S"
refresh_token_env = "R"

[[accounts.na.marketplaces]]
marketplace_id = "ATVPDKIKX0DER"
store_ids = [1, 2]
currency = "USD"

[[accounts.na.marketplaces]]
marketplace_id = "A2EUQ1WTGCTBG2"
store_ids = [3]
currency = "CAD"

[[accounts.na.marketplaces]]
marketplace_id = "A1AM78C64UM0Y8"
"""


def test_an_account_holds_several_marketplaces(tmp_path: Path) -> None:
    (acct,) = load_accounts(write(tmp_path, MULTI), {"S": "s", "R": "r"})
    assert [(m.marketplace_id, m.store_ids, m.currency) for m in acct.marketplaces] == [
        ("ATVPDKIKX0DER", (1, 2), "USD"),
        ("A2EUQ1WTGCTBG2", (3,), "CAD"),
        ("A1AM78C64UM0Y8", (), None),
    ]
    assert acct.store_ids == (1, 2, 3)
    assert acct.marketplace_id == "ATVPDKIKX0DER"
    assert acct.marketplace_for_store(3) == "A2EUQ1WTGCTBG2"
    cfg = Config(accounts=(acct,))
    assert cfg.account_for_store(3) is acct


def test_old_single_marketplace_config_still_loads(tmp_path: Path) -> None:
    (acct,) = load_accounts(write(tmp_path, BASE + 'lwa_client_secret_env = "S"\n'
                                  'refresh_token_env = "R"\n'), {"S": "s", "R": "r"})
    assert [(m.marketplace_id, m.store_ids) for m in acct.marketplaces] == [
        ("A1PA6795UKMFR9", (1, 4))]
    assert acct.marketplace_for_store(4) == "A1PA6795UKMFR9"


@pytest.mark.parametrize(("extra", "message"), [
    ('marketplace_id = "X"\n', "either marketplaces or marketplace_id/store_ids"),
    ("", "a Magento store belongs to at most one marketplace"),
])
def test_bad_marketplace_lists_are_refused(tmp_path: Path, extra: str, message: str) -> None:
    body = MULTI.replace('lwa_client_id = "amzn1.application-oa2-client.us"\n',
                         'lwa_client_id = "amzn1.application-oa2-client.us"\n' + extra)
    if not extra:
        body = body.replace("store_ids = [3]", "store_ids = [2]")
    with pytest.raises(ConfigError, match=message):
        load_accounts(write(tmp_path, body), {"S": "s", "R": "r"})


@pytest.mark.parametrize(("value", "on"), [(None, True), ("on", True), ("1", True),
                                           ("off", False), ("0", False), ("false", False)])
def test_order_sync_can_be_turned_off(value: str | None, on: bool) -> None:
    env = {} if value is None else {"SIDECAR_ORDER_SYNC": value}
    assert from_env(env).order_sync is on
