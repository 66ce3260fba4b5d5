"""What SREs and finance read: /metrics on its own port, and one audit row per movement."""

from decimal import Decimal

from adapter.observability import metrics
from adapter.observability.metrics_server import create_metrics_app
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body, new_card, psp


async def test_metrics_endpoint_exports_request_shopify_and_idempotency_series(adapter, sandbox, aiohttp_client):
    metrics.preinitialise()
    await new_card(sandbox, "metricscard00001", "50.00")
    await adapter.post("/financial_instruments", json=authorize_body("metricscard00001", 5, "m-1"), headers=AUTH)
    await adapter.post("/financial_instruments", json=authorize_body("metricscard00001", 5, "m-1"), headers=AUTH)
    scraper = await aiohttp_client(create_metrics_app())
    response = await scraper.get("/metrics")
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    for line in (
        'giftcard_adapter_requests_total{operation="authorize",outcome="success"}',
        'giftcard_adapter_request_duration_seconds_bucket{le="0.005",operation="authorize",outcome="success"}',
        'giftcard_adapter_shopify_calls_total{operation="giftCardDebit",result="ok"}',
        'giftcard_adapter_shopify_call_duration_seconds_count{operation="giftCardDebit",result="ok"}',
        "giftcard_adapter_shopify_throttle_points_available",
        'giftcard_adapter_idempotency_replays_total{operation="authorize"}',
        'giftcard_adapter_idempotency_conflicts_total{operation="capture",result="timed_out"}',
        "giftcard_adapter_oldest_unsettled_operation_seconds",
        "giftcard_adapter_idempotency_keys_reaped_total",
        'giftcard_adapter_db_pool_connections{state="in_use"}',
        "process_resident_memory_bytes",
    ):
        assert line in text, line
    assert "metricscard00001" not in text and "m-1" not in text  # no card or key in any label


async def test_every_money_movement_has_one_audit_row_written_with_its_totals(adapter, sandbox, db):
    await new_card(sandbox, "auditcard0000001", "100.00")
    auth = await (await adapter.post("/financial_instruments", json=authorize_body("auditcard0000001", 30, "a"), headers=AUTH)).json()
    instrument = auth[0]["instrument_id"]
    for operation, amount, key in (("capture", 20, "c"), ("refund", 5, "r"), ("revoke", 10, "v")):
        response = await adapter.post(f"/financial_instruments/{instrument}/_{operation}", json=psp(amount, key), headers=AUTH)
        assert response.status == 200
    # A decline moves nothing and writes no audit row.
    assert (await adapter.post(f"/financial_instruments/{instrument}/_refund", json=psp(99, "r2"), headers=AUTH)).status == 400
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT operation, amount, currency, ledger_transaction_id, last_characters "
                                "FROM audit_log WHERE instrument_id = $1 ORDER BY id", auth[0]["instrument_id"])
        totals = await conn.fetchrow("SELECT authorized, captured, refunded, revoked FROM instruments")
    assert [(r["operation"], r["amount"], r["currency"]) for r in rows] == [
        ("authorize", Decimal(30), "USD"), ("capture", Decimal(20), "USD"),
        ("refund", Decimal(5), "USD"), ("revoke", Decimal(10), "USD")]
    assert rows[0]["ledger_transaction_id"].startswith("gid://shopify/GiftCardDebitTransaction/")
    assert rows[1]["ledger_transaction_id"] is None  # capture is bookkeeping only
    assert all(r["last_characters"] == "0001" for r in rows)
    assert tuple(totals) == (Decimal(30), Decimal(20), Decimal(5), Decimal(10))
