"""SigV4: present and verifiably correct when on, absent when off, tokens out of logs."""

from __future__ import annotations

import logging

import pytest

from sidecar.amazon.credentials import Secret
from sidecar.amazon.signing import USER_AGENT, RequestSigner, host_header
from tests.amazon.conftest import ClientFactory, make_creds
from tests.amazon.fakes import AWS_SECRET, FakeAmazon, verify_sigv4


def test_signature_verifies_on_the_server(fake: FakeAmazon,
                                          make_client: ClientFactory) -> None:
    client = make_client()
    client.create_feed_document("text/xml; charset=UTF-8")          # POST with body
    client.get_feeds(["POST_PAYMENT_ADJUSTMENT_DATA"])               # GET with query
    rec = fake.calls("createFeedDocument")[0]
    assert rec.sigv4 == "valid"
    assert fake.calls("getFeeds")[0].sigv4 == "valid"
    auth = rec.headers["authorization"]
    assert "/eu-west-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=content-type;host;x-amz-access-token;x-amz-date," in auth
    assert rec.headers["user-agent"] == USER_AGENT


def test_tampering_is_detected() -> None:
    signer = RequestSigner("a", make_creds("http://127.0.0.1:9"))
    url = "http://127.0.0.1:9/feeds/2021-06-30/feeds?feedTypes=A%2CB"
    headers = {k.lower(): v for k, v in signer.headers(
        "GET", url, Secret("Atza|t")).items()}
    assert verify_sigv4("GET", url, headers, b"", AWS_SECRET) == "valid"
    assert verify_sigv4("GET", url + "X", headers, b"", AWS_SECRET).startswith("invalid")
    assert verify_sigv4("GET", url, {**headers, "x-amz-access-token": "Atza|other"}, b"",
                        AWS_SECRET).startswith("invalid")
    assert verify_sigv4("GET", url, headers, b"", "wrong-secret").startswith("invalid")


def test_session_token_is_sent_and_signed() -> None:
    creds = make_creds("http://127.0.0.1:9", session_token="FwoGZX-session")
    headers = {k.lower(): v for k, v in RequestSigner("a", creds).headers(
        "POST", "http://127.0.0.1:9/x", Secret("Atza|t"), body=b"{}",
        content_type="application/json").items()}
    assert headers["x-amz-security-token"] == "FwoGZX-session"
    assert "x-amz-security-token" in headers["authorization"]
    assert verify_sigv4("POST", "http://127.0.0.1:9/x", headers, b"{}", AWS_SECRET) == "valid"


def test_off_or_keyless_means_unsigned() -> None:
    for creds in (make_creds("http://h", sign=False), make_creds("http://h", keys=False)):
        headers = RequestSigner("a", creds).headers("GET", "http://h/x", Secret("Atza|t"))
        assert "Authorization" not in headers and "authorization" not in headers
        assert headers["x-amz-access-token"] == "Atza|t"
        assert headers["host"] == "h"
        assert len(headers["x-amz-date"]) == 16


def test_botocore_debug_log_has_no_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    creds = make_creds("https://sellingpartnerapi-eu.amazon.com", session_token="SESSION-TOK")
    RequestSigner("a", creds).headers("GET", "https://sellingpartnerapi-eu.amazon.com/x",
                                      Secret("Atza|TOPSECRET"))
    assert any(r.name == "botocore.auth" for r in caplog.records)  # botocore did log
    assert "Atza|TOPSECRET" not in caplog.text
    assert "SESSION-TOK" not in caplog.text
    assert AWS_SECRET not in caplog.text


def test_host_header() -> None:
    assert host_header("https://Sellingpartnerapi-EU.amazon.com/x") == \
        "sellingpartnerapi-eu.amazon.com"
    assert host_header("https://h.com:443/x") == "h.com"
    assert host_header("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
