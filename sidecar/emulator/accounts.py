"""An Amazon account of the product that talks to the emulator (demo, e2e tests, bench)."""

from __future__ import annotations

from sidecar.amazon.credentials import AccountCredentials, Secret
from sidecar.config import AmazonAccount
from sidecar.domain import AccountSettings, TaxConvention
from sidecar.emulator.config import (
    DEFAULT_AWS_ACCESS_KEY_ID,
    DEFAULT_AWS_SECRET_ACCESS_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_SELLER_ID,
)


def emulator_account(
    emulator_url: str,
    account_id: str,
    store_ids: tuple[int, ...],
    *,
    marketplace_id: str,
    refund: bool = True,
    convention: TaxConvention = TaxConvention.NET_PLUS_TAX,
) -> AmazonAccount:
    """The emulator's default seller and (fake) credentials; requests are SigV4-signed."""
    return AmazonAccount(
        account_id=account_id,
        seller_id=DEFAULT_SELLER_ID,
        marketplace_id=marketplace_id,
        store_ids=store_ids,
        credentials=AccountCredentials(
            lwa_client_id=DEFAULT_CLIENT_ID,
            lwa_client_secret=Secret(DEFAULT_CLIENT_SECRET),
            refresh_token=Secret(DEFAULT_REFRESH_TOKEN),
            aws_access_key_id=Secret(DEFAULT_AWS_ACCESS_KEY_ID),
            aws_secret_access_key=Secret(DEFAULT_AWS_SECRET_ACCESS_KEY),
            endpoint=emulator_url,
            aws_region="us-east-1",
            lwa_url=f"{emulator_url}/auth/o2/token",
        ),
        settings=AccountSettings(
            account_id=account_id,
            refund_on_creditmemo=refund,
            tax_convention=convention,
            upload_hosts=(emulator_url,),  # the emulator's presigned URLs: plain http, loopback
        ),
    )
