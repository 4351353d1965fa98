"""sidecar.cli: `sidecar migrate | worker --once | outbox ...` against the per-test MariaDB."""

from __future__ import annotations

import getpass
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from sidecar import db
from sidecar.cli import main
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import workers as workers_dao
from sidecar.tables import schema_migration, worker_heartbeat
from tests.support.rows import (
    add_feed_message,
    add_ledger_row,
    add_outbox_row,
    audit_rows,
    feed_message_row,
    ledger_states,
)

ENV_VARS = ("SIDECAR_DATABASE_URL", "SIDECAR_ACCOUNTS_FILE", "SIDECAR_ADMIN_TOKEN",
            "SIDECAR_ADMIN_TOKEN_FILE", "SIDECAR_BATCH_SIZE", "SIDECAR_WORKER_ID")


ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIDECAR_POLL_INTERVAL_SECONDS", "0")


@pytest.fixture
def cli_db(mariadb_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """SIDECAR_DATABASE_URL points at the per-test MariaDB; returns an engine to it."""
    monkeypatch.setenv("SIDECAR_DATABASE_URL", mariadb_url)
    return engine


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """`sidecar worker` installs SIGTERM/SIGINT handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- migrate


def test_migrate_twice(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    # the fixture database is already migrated: forget that, as on a fresh install
    with cli_db.begin() as conn:
        conn.execute(schema_migration.delete())
    code, out, err = run(capsys, "migrate")
    assert code == 0, err
    assert out.startswith("applied: 000_schema_migration.sql, 001_outbox.sql")
    with cli_db.connect() as conn:
        applied = conn.execute(select(func.count()).select_from(schema_migration)).scalar_one()
    assert applied == len(out.removeprefix("applied: ").split(", "))

    code, out, err = run(capsys, "migrate")
    assert (code, out) == (0, "schema is up to date\n")


def test_migrate_sqlite_demo_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIDECAR_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    code, out, _ = run(capsys, "migrate", "--demo-magento-tables")
    assert (code, out) == (0, "schema is up to date\n")


# ----------------------------------------------------------------------- outbox


def test_outbox_status(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    add_outbox_row(cli_db, 1, status="dead")
    add_outbox_row(cli_db, 2, status="done")
    add_outbox_row(cli_db, 3, status="done")
    code, out, _ = run(capsys, "outbox", "status")
    assert code == 0
    lines = out.splitlines()
    rows = dict(line.split() for line in lines[:-1])
    assert rows == {s: str({"dead": 1, "done": 2}.get(s, 0)) for s in outbox_dao.STATUSES}
    assert list(rows) == sorted(rows)
    assert lines[-1] == "oldest pending: none"


def test_outbox_status_oldest_pending(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    add_outbox_row(cli_db, 1, status="pending")
    code, out, _ = run(capsys, "outbox", "status")
    assert code == 0
    last = out.splitlines()[-1]
    assert last.startswith("oldest pending: ") and last.endswith("s")


def test_outbox_status_json(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    add_outbox_row(cli_db, 1, status="needs_attention")
    add_outbox_row(cli_db, 2, status="pending")
    code, out, _ = run(capsys, "outbox", "status", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"counts", "oldest_pending_age_seconds"}
    assert data["counts"]["needs_attention"] == 1
    assert data["counts"]["pending"] == 1
    assert set(data["counts"]) == set(outbox_dao.STATUSES)
    assert isinstance(data["oldest_pending_age_seconds"], float)
    assert 0 <= data["oldest_pending_age_seconds"] < 60


def test_outbox_list_and_show(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    a = add_outbox_row(cli_db, 11, status="dead", message="gave up\nafter 10 attempts")
    b = add_outbox_row(cli_db, 12, status="done", message="refunded")
    code, out, _ = run(capsys, "outbox", "list")
    assert code == 0
    lines = out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [b, a]  # newest first
    assert "gave up after 10 attempts" in lines[1]  # one line per row

    code, out, _ = run(capsys, "outbox", "list", "--status", "dead")
    assert [int(line.split()[0]) for line in out.splitlines()] == [a]

    code, out, _ = run(capsys, "outbox", "show", str(a))
    assert code == 0
    assert f"id: {a}\n" in out
    assert "status: dead\n" in out
    assert "entity_id: 11\n" in out

    code, out, err = run(capsys, "outbox", "show", "999999")
    assert (code, out) == (1, "")
    assert "no outbox row 999999" in err


def test_outbox_requeue_by_id(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    dead = add_outbox_row(cli_db, 1, status="dead", message="gave up")
    done = add_outbox_row(cli_db, 2, status="done")
    code, out, _ = run(capsys, "outbox", "requeue", "--id", str(dead), "--id", str(done),
                       "--reason", "fixed the SKU")
    assert code == 0
    assert out == f"requeued 1 row(s): {dead}\n"
    row = outbox_dao.get(cli_db, dead)
    assert row is not None and (row.status, row.attempts) == ("pending", 0)
    kept = outbox_dao.get(cli_db, done)
    assert kept is not None and kept.status == "done"
    assert audit_rows(cli_db) == [(dead, "requeue", ACTOR, "fixed the SKU (was dead)")]


def test_outbox_requeue_by_status(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [add_outbox_row(cli_db, n, status="rejected") for n in (1, 2)]
    other = add_outbox_row(cli_db, 3, status="dead")
    code, out, _ = run(capsys, "outbox", "requeue", "--status", "rejected", "--reason", "r")
    assert code == 0
    assert out == f"requeued 2 row(s): {ids[0]}, {ids[1]}\n"
    assert [a[0] for a in audit_rows(cli_db)] == ids
    row = outbox_dao.get(cli_db, other)
    assert row is not None and row.status == "dead"


@pytest.mark.parametrize("command", [["requeue", "--id", "1"], ["resolve", "1", "--done"]])
def test_the_cli_actor_is_the_os_user_never_free_text(
    cli_db: Engine, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Issue 7 item 16: `--actor` free text is gone; the audit log names "cli:<OS user>"."""
    with pytest.raises(SystemExit) as exit_:
        main(["outbox", *command, "--reason", "r", "--actor", "someone-else"])
    assert exit_.value.code == 2
    assert "--actor" in capsys.readouterr().err
    dead = add_outbox_row(cli_db, 1, status="dead")
    code, _, _ = run(capsys, "outbox", "requeue", "--id", str(dead), "--reason", "r")
    assert code == 0
    assert [a[2] for a in audit_rows(cli_db)] == [ACTOR]
    assert ACTOR.startswith("cli:")


def test_outbox_requeue_needs_a_target(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "outbox", "requeue", "--reason", "r")
    assert code == 2
    assert "give --id or --status" in err


def test_outbox_requeue_nothing_to_do(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    live = add_outbox_row(cli_db, 1, status="pending")
    code, out, _ = run(capsys, "outbox", "requeue", "--id", str(live), "--reason", "r")
    assert (code, out) == (1, "requeued 0 row(s): \n")
    assert audit_rows(cli_db) == []


@pytest.mark.parametrize("target", ["--id", "--status"])
def test_outbox_requeue_refuses_needs_attention_and_names_resolve(
    cli_db: Engine, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """Issue 7 item 2: `sidecar outbox requeue` on a needs_attention row made it end
    `skipped: already submitted` with its ledger pending forever. It is refused now, nothing
    changes, and the message names `sidecar outbox resolve ID --done|--requeue`."""
    oid = add_outbox_row(cli_db, 1, status="needs_attention", message="UNKNOWN OUTCOME")
    entry = add_ledger_row(cli_db, oid)
    value = str(oid) if target == "--id" else "needs_attention"
    code, out, err = run(capsys, "outbox", "requeue", target, value, "--reason", "r")
    assert (code, out) == (1, "")
    assert "sidecar outbox resolve" in err and "--requeue" in err and "--done" in err
    if target == "--id":
        assert f"sidecar outbox resolve {oid} --requeue" in err
    row = outbox_dao.get(cli_db, oid)
    assert row is not None and row.status == "needs_attention"
    assert ledger_states(cli_db) == {entry: "pending"}
    assert audit_rows(cli_db) == []


def test_outbox_requeue_needs_a_reason(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["outbox", "requeue", "--id", "1"])
    assert exit_.value.code == 2
    assert "--reason" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "status", "ledger_state", "message_state"), [
    ("--done", "done", "confirmed", "accepted"),
    ("--requeue", "pending", "rejected", "abandoned"),
])
def test_outbox_resolve(cli_db: Engine, capsys: pytest.CaptureFixture[str], flag: str,
                        status: str, ledger_state: str, message_state: str) -> None:
    oid = add_outbox_row(cli_db, 1, status="needs_attention", message="UNKNOWN OUTCOME")
    entry = add_ledger_row(cli_db, oid)
    message = add_feed_message(cli_db, oid)
    code, out, _ = run(capsys, "outbox", "resolve", str(oid), flag, "--reason",
                       "seen in Seller Central")
    assert code == 0
    assert out == f"row {oid} resolved as {'done' if flag == '--done' else 'requeued'}\n"
    row = outbox_dao.get(cli_db, oid)
    assert row is not None and row.status == status
    assert ledger_states(cli_db) == {entry: ledger_state}
    assert feed_message_row(cli_db, message)["state"] == message_state
    action = "resolve_done" if flag == "--done" else "resolve_requeue"
    assert audit_rows(cli_db) == [(oid, action, ACTOR, "seen in Seller Central")]

    code, out, _ = run(capsys, "outbox", "resolve", str(oid), flag, "--reason", "again")
    assert code == 1
    assert "is not waiting for a human" in out
    assert len(audit_rows(cli_db)) == 1


def test_outbox_resolve_of_a_dead_row_names_requeue(
    cli_db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every operator action ends in a sent refund, a terminal state, or a refusal naming the
    right command: resolve on a dead row points to requeue."""
    dead = add_outbox_row(cli_db, 1, status="dead", message="gave up")
    code, out, _ = run(capsys, "outbox", "resolve", str(dead), "--requeue", "--reason", "r")
    assert code == 1
    assert f"sidecar outbox requeue --id {dead}" in out
    row = outbox_dao.get(cli_db, dead)
    assert row is not None and row.status == "dead"


def test_outbox_resolve_needs_done_or_requeue(cli_db: Engine,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["outbox", "resolve", "1", "--reason", "r"],
                 ["outbox", "resolve", "1", "--done", "--requeue", "--reason", "r"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    capsys.readouterr()


# ----------------------------------------------------------------- bad config


def test_invalid_config_exits_2(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIDECAR_BATCH_SIZE", "lots")
    code, out, err = run(capsys, "outbox", "status")
    assert (code, out) == (2, "")
    assert err == "sidecar: SIDECAR_BATCH_SIZE must be a number, got 'lots'\n"


def test_inline_secret_exits_2_without_showing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.eu]\nseller_id = "S"\nmarketplace_id = "M"\nlwa_client_id = "c"\n'
        'lwa_client_secret = "inline-secret-8e2f"\nrefresh_token_env = "R"\n', encoding="utf-8")
    monkeypatch.setenv("SIDECAR_ACCOUNTS_FILE", str(accounts))
    code, _, err = run(capsys, "migrate")
    assert code == 2
    assert err.startswith("sidecar: account 'eu': lwa_client_secret: put secrets in the")
    assert "inline-secret-8e2f" not in err


def test_missing_accounts_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIDECAR_ACCOUNTS_FILE", str(tmp_path / "nope.toml"))
    code, _, err = run(capsys, "worker", "--once")
    assert code == 2
    assert "cannot read accounts file" in err


@pytest.mark.parametrize("url", ["not a url: s3cr3t-pw", "postgresx://u:s3cr3t-pw@db/magento"])
def test_unusable_database_url_exits_2(url: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIDECAR_DATABASE_URL", url)
    code, _, err = run(capsys, "outbox", "status")
    assert code == 2
    assert err.startswith("sidecar: SIDECAR_DATABASE_URL")
    assert "s3cr3t-pw" not in err


def test_unsupported_server_exits_2(cli_db: Engine, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    real = db.assert_supported
    monkeypatch.setattr(db, "assert_supported", lambda _v: real("10.5.23-MariaDB"))
    code, _, err = run(capsys, "outbox", "status")
    assert code == 2
    assert "mariadb 10.5.23-MariaDB is too old" in err
    assert "SKIP LOCKED" in err


# ----------------------------------------------------------------------- worker


@pytest.mark.usefixtures("keep_signal_handlers")
def test_worker_once_on_an_empty_outbox(cli_db: Engine, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIDECAR_WORKER_ID", "cli-test-worker")
    assert workers_dao.latest_beat(cli_db) is None
    code, _, err = run(capsys, "worker", "--once")
    assert code == 0, err
    with cli_db.connect() as conn:
        beats = conn.execute(select(worker_heartbeat.c.worker_id,
                                    worker_heartbeat.c.rows_processed)).all()
    assert [tuple(b) for b in beats] == [("cli-test-worker", 0)]
    assert workers_dao.latest_beat(cli_db) is not None


# ------------------------------------------------------------ orders sync (issue 9)


def _emulator_accounts(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidecar.emulator.config import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_REFRESH_TOKEN,
        DEFAULT_SELLER_ID,
    )

    path = tmp_path / "accounts.toml"
    path.write_text(f"""
[accounts.us]
seller_id = "{DEFAULT_SELLER_ID}"
region = "na"
endpoint = "{url}"
lwa_url = "{url}/auth/o2/token"
sign_requests = false
lwa_client_id = "{DEFAULT_CLIENT_ID}"
lwa_client_secret_env = "T_SECRET"
refresh_token_env = "T_REFRESH"

[[accounts.us.marketplaces]]
marketplace_id = "ATVPDKIKX0DER"
store_ids = [1]
""", encoding="utf-8")
    monkeypatch.setenv("SIDECAR_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("T_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("T_REFRESH", DEFAULT_REFRESH_TOKEN)


def test_orders_sync_since(cli_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import timedelta

    from sidecar.clock import utcnow
    from sidecar.dao import order_sync as sync_dao
    from sidecar.emulator.config import EmulatorConfig
    from sidecar.emulator.server import EmulatorServer
    from sidecar.emulator.state import SeedItem

    with EmulatorServer(config=EmulatorConfig(xsd_dir=None)) as emulator:
        for k in (1, 2):
            emulator.state.seed_order(f"111-000000{k}-0000001", items=[SeedItem()],
                                      last_updated_time=utcnow() - timedelta(hours=1))
        _emulator_accounts(tmp_path, emulator.url, monkeypatch)
        since = (utcnow() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        code, out, err = run(capsys, "orders", "sync", "--since", since)
        assert code == 0, err
        assert "us ATVPDKIKX0DER: 1 page(s), 2 order(s) stored, pass complete" in out
        code, out, _ = run(capsys, "orders", "status")
        assert code == 0 and "passes=1 orders=2 in_pass=False" in out
        # a worker leading the account: the DBA is told, nothing is read twice
        assert sync_dao.acquire_lease(cli_db, "us", "worker-7", utcnow(),
                                      timedelta(minutes=5))
        code, _, err = run(capsys, "orders", "sync", "--since", since)
        assert code == 1 and "worker worker-7 leads its sync" in err
        assert emulator.state.calls("searchOrders") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["orders", "sync", "--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "ISO 8601" in capsys.readouterr().err
