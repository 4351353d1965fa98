"""Secret and AccountCredentials never show secrets."""

from __future__ import annotations

import logging
import pickle

import pytest

from sidecar.amazon.credentials import REGIONS, AccountCredentials, Secret, sandbox_endpoint


def test_secret_never_prints(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret("hunter2")
    assert str(s) == "***"
    assert repr(s) == "Secret('***')"
    assert f"{s}" == "***" and f"{s:>20}" == "***"
    assert "%s" % s == "***"  # noqa: UP031 - the logging style
    assert s.reveal() == "hunter2"
    assert s == Secret("hunter2") and s != Secret("other") and s != "hunter2"
    assert bool(Secret("")) is False
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("secret is %s / %r", s, s)
    assert "hunter2" not in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]


def test_credentials_repr_hides_secrets() -> None:
    creds = AccountCredentials(
        lwa_client_id="cid", lwa_client_secret=Secret("cs-123"),
        refresh_token=Secret("Atzr|rt-456"), aws_access_key_id=Secret("AKIA789"),
        aws_secret_access_key=Secret("aws-secret-000"), aws_session_token=Secret("st-111"),
    )
    text = repr(creds)
    for secret in ("cs-123", "rt-456", "AKIA789", "aws-secret-000", "st-111"):
        assert secret not in text
    assert creds.has_aws_keys
    assert creds.endpoint == "https://sellingpartnerapi-eu.amazon.com"
    assert creds.aws_region == "eu-west-1"
    with pytest.raises(TypeError):
        AccountCredentials(lwa_client_id="c", lwa_client_secret="plain",  # type: ignore[arg-type]
                           refresh_token=Secret("r"))


def test_regions_and_sandbox() -> None:
    assert {k: (r.endpoint, r.aws_region) for k, r in REGIONS.items()} == {
        "na": ("https://sellingpartnerapi-na.amazon.com", "us-east-1"),
        "eu": ("https://sellingpartnerapi-eu.amazon.com", "eu-west-1"),
        "fe": ("https://sellingpartnerapi-fe.amazon.com", "us-west-2"),
    }
    creds = AccountCredentials.for_region("FE", lwa_client_id="c",
                                          lwa_client_secret=Secret("s"),
                                          refresh_token=Secret("r"), sandbox=True)
    assert creds.endpoint == "https://sandbox.sellingpartnerapi-fe.amazon.com"
    assert creds.aws_region == "us-west-2"
    assert not creds.has_aws_keys
    assert sandbox_endpoint("https://sandbox.x.com/") == "https://sandbox.x.com"
    with pytest.raises(ValueError, match="unknown SP-API region"):
        AccountCredentials.for_region("mars", lwa_client_id="c",
                                      lwa_client_secret=Secret("s"),
                                      refresh_token=Secret("r"))


@pytest.mark.parametrize("field", ["endpoint", "lwa_url"])
@pytest.mark.parametrize("url", ["https://user:pw-SECRET@sellingpartnerapi-eu.amazon.com",
                                 "ftp://user:pw-SECRET@example.com"])
def test_urls_with_credentials_are_refused_without_quoting_them(field: str, url: str) -> None:
    # userinfo would be an inline secret in the accounts file, shown on the health page
    urls = {"endpoint": REGIONS["eu"].endpoint, "lwa_url": "https://api.amazon.com/auth/o2/token"}
    urls[field] = url
    with pytest.raises(ValueError, match=f"{field} must not carry") as info:
        AccountCredentials(lwa_client_id="id", lwa_client_secret=Secret("s"),
                           refresh_token=Secret("r"), endpoint=urls["endpoint"],
                           lwa_url=urls["lwa_url"])
    assert "SECRET" not in str(info.value)
