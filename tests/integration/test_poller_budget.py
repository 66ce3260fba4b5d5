"""The poller on a bucket kept for NewStore's calls (issue #14): when the ledger refuses a re-read
for its budget, the rest of the batch is not tried (each would be refused too, after queries of
its own); the cards stay due and are read first once there is room."""

from __future__ import annotations

from prometheus_client import REGISTRY

from adapter.http.keys import WORKERS
from adapter.services import poller as poller_module
from tests import ledger_view
from tests.conftest import AUTH


def deferred() -> float:
    return REGISTRY.get_sample_value("giftcard_adapter_poller_cards_total", {"result": "deferred"}) or 0.0


async def test_a_batch_stops_at_the_first_re_read_the_budget_refuses(make_adapter, sandbox, monkeypatch):
    adapter = await make_adapter(poll_batch=5)
    for n in range(1, 6):
        await ledger_view.make_card(sandbox, f"budgetcard00000{n}", "10.00")
    # A 100-point bucket that hardly refills: a re-read (54 requested) would take it below the
    # half kept for NewStore's calls once the change list has had its page.
    await ledger_view.configure(sandbox, bucket_size=100, restore_rate=0.01)
    response = await adapter.post("/gift_card/balance", json={"identifier": {"number": "budgetcard000001"}},
                                  headers=AUTH)
    assert response.status == 200  # the adapter has Shopify's figures: ~97 of 100
    tried = []
    real = poller_module.reread

    async def counting(services, card_id, deadline, **kwargs):
        tried.append(card_id)
        return await real(services, card_id, deadline, **kwargs)

    monkeypatch.setattr(poller_module, "reread", counting)
    await ledger_view.reset_counters(sandbox)
    before = deferred()
    passed = await adapter.server.app[WORKERS].poller.run_once()
    assert passed["cards"] == 0 and passed["failed"] == 5 and deferred() == before + 5
    assert len(tried) == 1  # not five
    assert "giftCard" not in (await ledger_view.state(sandbox))["calls"]  # no re-read was sent
