"""giftcard-adapter serve | migrate | sandbox | keys status|rotate | reviews list|resolve | cards import | reconcile
| feed status|redeliver|skip|listen"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from contextlib import AsyncExitStack

import structlog
from pydantic import ValidationError

from adapter.observability import metrics
from adapter.observability.logging import configure_logging
from adapter.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("adapter")


def _settings(*, serve: bool, embedded: bool) -> Settings:
    overrides = {"embedded": True} if embedded else {}
    try:
        return load_settings(serve=serve, **overrides)
    except (SettingsError, ValidationError) as error:
        # One clear message, no traceback, no secret values (pydantic omits SecretStr input).
        print(f"giftcard-adapter: {error}", file=sys.stderr)
        raise SystemExit(2) from None


async def _serve(settings: Settings) -> None:
    from adapter.app import create_app
    from adapter.http.keys import READINESS
    from adapter.http.server import listen
    from adapter.embedded import with_embedded_defaults
    from adapter.observability.metrics_server import create_metrics_app

    async with AsyncExitStack() as stack:
        if settings.embedded:
            settings = await with_embedded_defaults(settings, stack)
        app = create_app(settings)
        host = settings.bind_host
        runner = await listen(app, host, settings.http_port, settings,
                              shutdown_timeout=settings.shutdown_timeout_seconds)
        stack.push_async_callback(runner.cleanup)
        metrics_runner = await listen(create_metrics_app(), host, settings.metrics_port, settings)
        stack.push_async_callback(metrics_runner.cleanup)
        # Everything built so far (modules, schemas, models, pools) lives as long as the process:
        # out of the collector's sight, full collections stay short (25-30 ms pauses measured
        # under bench.overhead otherwise).
        gc.collect()
        gc.freeze()
        log.info("serving", host=host, embedded=settings.embedded, port=settings.http_port, metrics_port=settings.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        # Readiness turns false at once; keep serving while the load balancer takes us out,
        # then stop listening and let in-flight requests finish (runner.cleanup, via the stack).
        app[READINESS].draining = True
        log.info("draining", seconds=settings.shutdown_drain_seconds)
        await asyncio.sleep(settings.shutdown_drain_seconds)
        log.info("shutting_down")


async def _migrate(settings: Settings, target: int | None) -> None:
    from adapter.embedded import with_embedded_defaults
    from adapter.store.database import create_pool
    from adapter.store.migrations import migrate

    async with AsyncExitStack() as stack:
        if settings.embedded and settings.database_url is None:
            settings = await with_embedded_defaults(settings, stack, ledger=False)
        pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn, target)
            log.info("migrated", version=version)
        finally:
            await pool.close()


class _NotMigrated(Exception):
    pass


async def _operator_database(settings: Settings, stack: AsyncExitStack, max_size: int = 1):
    """The settings (embedded stand-ins filled in, no ledger) and a pool on a database that is
    fully migrated, for the operator commands; _NotMigrated (after saying so) otherwise."""
    from adapter.embedded import with_embedded_defaults
    from adapter.store.database import create_pool
    from adapter.store.migrations import current_version, load_migrations

    if settings.embedded:
        settings = await with_embedded_defaults(settings, stack, ledger=False)
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=max_size)
    stack.push_async_callback(pool.close)
    async with pool.acquire() as conn:
        version, latest = await current_version(conn), len(load_migrations())
    if version < latest:
        print(f"giftcard-adapter: the database is at migration {version} of {latest}: migrate first", file=sys.stderr)
        raise _NotMigrated
    return settings, pool


async def _keys(settings: Settings, command: str, batch_size: int) -> int:
    """Card-code keys: what every stored digest and ciphertext depends on, and the rotation to
    the first of CARD_CODE_KEYS. Prints counts and key ids only; the exit status is 1 when
    something is stored under a key that is not configured (status) or could not be read (rotate)."""
    from adapter import keyrotation
    from adapter.crypto import CodeVault

    async with AsyncExitStack() as stack:
        try:
            settings, pool = await _operator_database(settings, stack, max_size=2)
        except _NotMigrated:
            return 2
        vault = CodeVault(settings.card_code_secrets)
        if command == "status":
            uses, remaining = await keyrotation.status(pool, vault)
            print("\n".join(keyrotation.format_status(vault, uses, remaining)))
            return 1 if keyrotation.not_configured(vault, uses) else 0
        report = await keyrotation.rotate(pool, vault, batch_size=batch_size)
        print("\n".join(keyrotation.format_report(vault, report)))
        return 1 if report.unreadable else 0


async def _reviews(settings: Settings, args: argparse.Namespace) -> int:
    """List the writes in review, or record an operator's decision on one."""
    from adapter import reviews

    async with AsyncExitStack() as stack:
        try:
            _, pool = await _operator_database(settings, stack)
        except _NotMigrated:
            return 2
        if args.reviews_command == "list":
            print("\n".join(await reviews.list_open(pool, include_resolved=args.all)))
            return 0
        if await reviews.resolve(pool, args.review_id, args.resolution):
            print(f"review #{args.review_id} resolved")
            return 0
        print(f"giftcard-adapter: no open review #{args.review_id}", file=sys.stderr)
        return 1
async def _feed(settings: Settings, args: argparse.Namespace) -> int:
    """The feed's delivery queue: counts and dead letters, or dead rows put back or dropped
    (adapter/feed/operator.py). Exit status 1: something is dead (status), or a given event is
    unknown or not dead (redeliver, skip)."""
    from adapter.feed import operator

    async with AsyncExitStack() as stack:
        try:
            settings, pool = await _operator_database(settings, stack)
        except _NotMigrated:
            return 2
        configured = settings.feed_subscriber_names
        if args.feed_command == "status":
            lines, status = await operator.status(pool, configured)
            print("\n".join(lines))
            return status
        if args.feed_command == "redeliver":
            outcome = await operator.redeliver(pool, args.subscriber, None if args.all_dead else args.event, configured)
        else:
            outcome = await operator.skip(pool, args.subscriber, args.event)
        print("\n".join(outcome.lines))
        return outcome.status


async def _cards_import(settings: Settings, path: str, ledger: str | None, batch_size: int) -> int:
    """Register cards issued elsewhere from a vendor's CSV export (adapter/cardimport.py). The
    report goes to stdout (the log to stderr): counts, and each refused row by line number and
    reason, a code at most by its last four. Exit status 0 nothing refused, 1 some rows refused,
    2 the file is unreadable or lacks a column, or the database is not migrated (nothing
    registered), 3 stopped by a database error (what was registered stays: run it again)."""
    from pathlib import Path

    import asyncpg

    from adapter import cardimport

    configured = settings.ledger
    if ledger is None:
        ledger = configured
    elif configured != ledger:
        print(f"giftcard-adapter: warning: importing {ledger} ids while LEDGER is {configured}", file=sys.stderr)
    try:
        csv_file = cardimport.CsvFile(Path(path))  # the header first: a bad file needs no database
    except cardimport.ImportFileError as error:
        print(f"giftcard-adapter: {error}", file=sys.stderr)
        return cardimport.EXIT_UNREADABLE
    try:
        return await _import_file(settings, csv_file, ledger, batch_size)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        # No code ever reaches Postgres in plaintext, so none can be in its errors.
        print(f"giftcard-adapter: cards import stopped: {type(error).__name__}: {error}"
              " (batches registered before stay registered: run it again)", file=sys.stderr)
        return cardimport.EXIT_FAILED


async def _import_file(settings: Settings, csv_file, ledger: str, batch_size: int) -> int:
    from adapter import cardimport
    from adapter.crypto import CodeVault
    from adapter.domain.cardnumbers import CardNumberReader
    from adapter.store import cardimport as staged

    async with AsyncExitStack() as stack:
        stack.callback(csv_file.close)
        try:
            settings, pool = await _operator_database(settings, stack)
        except _NotMigrated:
            return cardimport.EXIT_UNREADABLE
        vault = CodeVault(settings.card_code_secrets)
        reader = CardNumberReader(settings.card_number_prefix_list, settings.card_number_pattern)
        async with pool.acquire() as conn:
            try:
                try:
                    report = await cardimport.import_file(conn, vault, reader, csv_file, ledger=ledger,
                                                          batch_size=batch_size)
                except cardimport.ImportFileError as error:
                    print(f"giftcard-adapter: {error} (nothing imported)", file=sys.stderr)
                    return cardimport.EXIT_UNREADABLE
                async for row in staged.refused(conn):
                    print(cardimport.format_refused(row))
            finally:
                await staged.drop_stage(conn)  # a pooled connection keeps its session's tables
        print("\n".join(cardimport.format_summary(report)))
        return report.exit_status


async def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """Our journal against the mirror; exit status 1 on drift (adapter/reconciliation.py)."""
    from datetime import UTC, datetime, timedelta

    from adapter import reconciliation

    since = args.since or datetime.now(UTC) - timedelta(hours=args.hours)
    async with AsyncExitStack() as stack:
        try:
            _, pool = await _operator_database(settings, stack)
        except _NotMigrated:
            return 2
        async with pool.acquire() as conn:
            report = await reconciliation.reconcile(conn, since)
            shift = await reconciliation.shift_summary(conn, args.day or datetime.now(UTC))
    print(reconciliation.render(report, shift, args.format))
    return 0 if report.clean else 1


def _run(coroutine) -> None:
    """uvloop where it is installed: measurably less CPU per request (bench/throughput)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


def _utc_time(text: str):
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="giftcard-adapter")
    commands = parser.add_subparsers(dest="command", required=True)
    embedded_help = ("local run: the chosen ledger's built-in emulator (LEDGER, default Shopify's sandbox) and "
                     "embedded Postgres for what is not configured (same as EMBEDDED=true)")
    serve_cmd = commands.add_parser("serve", help="serve NewStore's webhooks")
    serve_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    migrate_cmd = commands.add_parser("migrate", help="apply the SQL migrations (under an advisory lock)")
    migrate_cmd.add_argument("--target", type=int, default=None, help="version to move to (default: latest)")
    migrate_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    keys_cmd = commands.add_parser("keys", help="card-code keys (CARD_CODE_KEYS): status and rotation")
    keys_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    keys_commands = keys_cmd.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("status", help="stored rows per card-code key id, and what still needs an older key")
    rotate_cmd = keys_commands.add_parser(
        "rotate", help="move stored digests and ciphertexts to the first key of CARD_CODE_KEYS, while serving")
    rotate_cmd.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
    reviews_cmd = commands.add_parser("reviews", help="writes the ledger could not settle, for an operator")
    reviews_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    reviews_commands = reviews_cmd.add_subparsers(dest="reviews_command", required=True)
    list_cmd = reviews_commands.add_parser("list", help="open reviews (--all: resolved ones too)")
    list_cmd.add_argument("--all", action="store_true")
    resolve_cmd = reviews_commands.add_parser("resolve", help="record what the operator found and did")
    resolve_cmd.add_argument("review_id", type=int)
    resolve_cmd.add_argument("resolution", help="e.g. 'applied: balance checked in the admin'")
    cards_cmd = commands.add_parser("cards", help="the card registry: cards issued elsewhere")
    cards_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    cards_commands = cards_cmd.add_subparsers(dest="cards_command", required=True)
    import_cmd = cards_commands.add_parser(
        "import", help="register cards from a vendor's CSV export (code and ledger card id); idempotent",
        description="Exit status: 0 nothing refused, 1 some rows refused (the others are registered),"
                    " 2 unreadable file, missing column or unmigrated database (nothing registered),"
                    " 3 stopped by a database error (run it again).")
    import_cmd.add_argument("file", help="CSV with a header: code (or gift_card_code) and id (or gift_card_id,"
                                         " ledger_id); optional currency, last_characters")
    import_cmd.add_argument("--ledger", choices=("shopify", "shopline", "gifthero"), default=None,
                            help="whose ids the file holds (default: the LEDGER setting, else shopify)")
    import_cmd.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
    reconcile_cmd = commands.add_parser(
        "reconcile", help="our journal against the ledger's mirror: drift, foreign movements, the shift summary",
        description="Exit status: 0 clean, 1 drift found, 2 database not migrated.")
    reconcile_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    reconcile_cmd.add_argument("--since", type=_utc_time, default=None, help="ISO 8601 time (default: --hours ago)")
    reconcile_cmd.add_argument("--hours", type=float, default=24.0, help="how far back, without --since (default 24)")
    reconcile_cmd.add_argument("--day", type=_utc_time, default=None, help="the shift summary's day (default today, UTC)")
    reconcile_cmd.add_argument("--format", choices=("table", "csv", "json"), default="table")
    feed_cmd = commands.add_parser("feed", help="the balance-change feed's webhook deliveries")
    feed_cmd.add_argument("--embedded", action="store_true", help=embedded_help)
    feed_commands = feed_cmd.add_subparsers(dest="feed_command", required=True)
    feed_commands.add_parser("status", help="pending and dead deliveries per subscriber, the oldest undelivered"
                                            " event's age, and the dead letters (exit status 1 if any)")
    redeliver_cmd = feed_commands.add_parser(
        "redeliver", help="put dead deliveries back to pending, attempts reset (their cards' later events follow)")
    redeliver_cmd.add_argument("--subscriber", help="only this subscriber's (default: every subscriber's)")
    which = redeliver_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", action="extend", nargs="+", metavar="ID",
                       help="events by sequence or UUID (several may follow one --event)")
    which.add_argument("--all-dead", action="store_true", help="every dead delivery")
    skip_cmd = feed_commands.add_parser(
        "skip", help="drop dead deliveries for good: the subscriber does not get them by webhook (the pull API"
                     " keeps them), and their cards' later events go on")
    skip_cmd.add_argument("--subscriber", required=True)
    skip_cmd.add_argument("--event", action="extend", nargs="+", metavar="ID", required=True,
                          help="events by sequence or UUID (several may follow one --event)")
    listen_cmd = feed_commands.add_parser(
        "listen", help="a subscriber that verifies and prints the events it receives (for trying the feed out)")
    listen_cmd.add_argument("--host", default="127.0.0.1")
    listen_cmd.add_argument("--port", type=int, default=8099)
    listen_cmd.add_argument("--secret", action="append", required=True,
                            help="a secret of the subscriber's FEED_SUBSCRIBERS entry (repeat for a rotation)")
    sandbox_cmd = commands.add_parser("sandbox", help="run the local Shopify gift-card sandbox")
    sandbox_cmd.add_argument("--host", default="127.0.0.1")
    sandbox_cmd.add_argument("--port", type=int, default=8089)
    sandbox_cmd.add_argument("--bucket-size", type=float, default=2000.0, help="cost bucket size (points)")
    sandbox_cmd.add_argument("--restore-rate", type=float, default=100.0, help="cost points restored per second")
    # The shop's settings (parsed by the sandbox itself: this image may carry no emulators).
    sandbox_cmd.add_argument("--currency", help="the shop's currency (default USD)")
    sandbox_cmd.add_argument("--issue-limit", help="the most one card may hold (default 3000)")
    sandbox_cmd.add_argument("--purchase-limit", help="giftCardConfiguration's purchase limit (default 3000)")
    sandbox_cmd.add_argument("--latency-ms", type=float, default=0.0,
                             help="every GraphQL answer waits this long, in ms (default 0: at once)")
    sandbox_cmd.add_argument("--latency-jitter-ms", type=float, default=0.0,
                             help="spread of that wait, uniform within ± this many ms (default 0)")
    args = parser.parse_args(argv)

    if args.command == "feed" and args.feed_command == "listen":  # no settings, no database
        from adapter.feed import listen

        listen.run(args.host, args.port, args.secret)
        return
    if args.command == "sandbox":
        configure_logging("console", "INFO")
        try:
            from giftcard_emulators.shopify.server import config_from_args, run_sandbox
        except ImportError:
            print("giftcard-adapter: the emulators are not installed here (a production image carries none): "
                  "pip install -e ./emulators", file=sys.stderr)
            raise SystemExit(2) from None

        run_sandbox(args.host, args.port, config_from_args(sandbox_cmd, args))
        return
    # Only `serve` needs the ledger's settings; the rest need the database (and keys: the key).
    settings = _settings(serve=args.command == "serve", embedded=args.embedded)
    if args.command in ("keys", "cards") and not settings.card_code_secrets and not settings.embedded:
        print("giftcard-adapter: invalid configuration: missing CARD_CODE_KEYS (or CARD_CODE_KEY)", file=sys.stderr)
        raise SystemExit(2)
    # cards import, reconcile, feed: stdout is the report, the log goes to stderr.
    configure_logging(settings.log_format, settings.log_level,
                      stream=sys.stderr if args.command in ("cards", "reconcile", "feed") else None)
    if args.command == "serve":
        metrics.preinitialise(settings.feed_subscriber_names)
        _run(_serve(settings))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings, args.target))
    elif args.command == "keys":
        batch_size = getattr(args, "batch_size", 500)
        if batch_size < 1:
            parser.error("--batch-size must be at least 1")
        raise SystemExit(asyncio.run(_keys(settings, args.keys_command, batch_size)))
    elif args.command == "reconcile":
        raise SystemExit(asyncio.run(_reconcile(settings, args)))
    elif args.command == "reviews":
        raise SystemExit(asyncio.run(_reviews(settings, args)))
    elif args.command == "feed":
        raise SystemExit(asyncio.run(_feed(settings, args)))
    elif args.command == "cards":
        if args.batch_size < 1:
            parser.error("--batch-size must be at least 1")
        raise SystemExit(asyncio.run(_cards_import(settings, args.file, args.ledger, args.batch_size)))


if __name__ == "__main__":
    main()
