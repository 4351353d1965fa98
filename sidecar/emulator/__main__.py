"""``python -m sidecar.emulator --port 8081``: run the SP-API emulator in the foreground."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from werkzeug.serving import make_server

from sidecar.emulator.app import create_emulator_app
from sidecar.emulator.config import (
    DEFAULT_AWS_ACCESS_KEY_ID,
    DEFAULT_AWS_SECRET_ACCESS_KEY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_SELLER_ID,
    EmulatorConfig,
    LwaClient,
)
from sidecar.emulator.state import EmulatorState, SeedItem


def seed_demo(state: EmulatorState) -> None:
    """A few orders covering the refund rules (US net prices, DE gross prices, JPY)."""
    state.seed_order("111-0000001-0000001", currency="USD", items=[
        SeedItem("11100000000011", "MUG-RED", 2, Decimal("30.00"), Decimal("2.40"),
                 Decimal("5.00"), Decimal("0.40"), quantity_shipped=2, title="Red mug"),
        SeedItem("11100000000012", "MUG-BLUE", 1, Decimal("15.00"), Decimal("1.20"),
                 quantity_shipped=1, title="Blue mug"),
    ])
    state.seed_order("302-0000002-0000002", marketplace_id="A1PA6795UKMFR9", currency="EUR",
                     prices_include_tax=True, items=[
        SeedItem("30200000000021", "TSHIRT-M", 2, Decimal("39.98"), Decimal("6.38"),
                 Decimal("4.90"), Decimal("0.78"), title="T-shirt M"),
    ])
    state.seed_order("302-0000003-0000003", marketplace_id="A1PA6795UKMFR9", currency="EUR",
                     prices_include_tax=True, items=[
        SeedItem("30200000000031", "CAP-1", 1, Decimal("19.99"), Decimal("3.19"),
                 buyer_cancel_requested=True, buyer_cancel_reason="Ordered by mistake"),
    ])
    state.seed_order("503-0000004-0000004", marketplace_id="A1VC38T7YXB528", currency="JPY",
                     prices_include_tax=True, items=[
        SeedItem("50300000000041", "TEA-1", 3, Decimal("4500"), Decimal("409"),
                 Decimal("500"), Decimal("45"), quantity_shipped=1, title="Green tea"),
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sidecar.emulator",
                                     description="Amazon SP-API emulator (loopback only).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--processing-polls", type=int, default=0,
                        help="getFeed polls a feed stays IN_PROGRESS before it is processed")
    parser.add_argument("--processing-seconds", type=float, default=0.0,
                        help="seconds after createFeed before a feed can finish")
    parser.add_argument("--gzip-reports", action="store_true")
    parser.add_argument("--xsd-dir", type=Path, default=None,
                        help="validate feeds against amzn-envelope.xsd here "
                             "(default: $AMAZON_XSD_DIR)")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--refresh-token", default=DEFAULT_REFRESH_TOKEN)
    parser.add_argument("--seller-id", default=DEFAULT_SELLER_ID)
    parser.add_argument("--aws-access-key-id", default=DEFAULT_AWS_ACCESS_KEY_ID)
    parser.add_argument("--aws-secret-access-key", default=DEFAULT_AWS_SECRET_ACCESS_KEY)
    parser.add_argument("--public-url", default=None,
                        help="base URL for presigned document URLs (default: request host)")
    parser.add_argument("--seed-demo", action="store_true", help="seed a few demo orders")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: the emulator has an unauthenticated admin API; keep it on loopback "
              "or a private network", file=sys.stderr)
    config = EmulatorConfig(
        region=args.region,
        lwa_clients=(LwaClient(args.client_id, args.client_secret,
                               {args.refresh_token: args.seller_id}),),
        aws_credentials={args.aws_access_key_id: args.aws_secret_access_key},
        rate_limiting=not args.no_rate_limits,
        processing_polls=args.processing_polls,
        processing_seconds=args.processing_seconds,
        gzip_reports=args.gzip_reports,
        public_url=args.public_url,
    )
    if args.xsd_dir is not None:
        config.xsd_dir = args.xsd_dir
    state = EmulatorState(config)
    if args.seed_demo:
        seed_demo(state)
    server = make_server(args.host, args.port, create_emulator_app(state), threaded=True)
    print(f"SP-API emulator on http://{args.host}:{server.server_port} "
          f"(LWA: /auth/o2/token, admin: /_emulator/state)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        state.close()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
