"""Finding our PUT among a card's entries after the mark (adapter.ledgers.absolute.locate_put)."""

from datetime import UTC, datetime
from decimal import Decimal

from adapter.domain.money import Money
from adapter.ledgers.absolute import AMBIGUOUS, explains, locate_put, unchanged_put
from adapter.ports import BalanceEntry, EntryKind

AT = datetime(2026, 12, 3, tzinfo=UTC)


def entry(n: int, delta: str, kind: EntryKind = EntryKind.SET) -> BalanceEntry:
    return BalanceEntry(str(n), Money(Decimal(delta), "USD"), kind, AT)


def test_our_put_alone_overwrote_nothing():
    assert locate_put([entry(1, "-20")], Decimal("100"), Decimal("80")) == (0, Decimal("0"))


def test_a_checkout_between_read_and_put_is_what_the_put_overwrote():
    # read 100, checkout -30 (70), our PUT of 80 (+10)
    entries = [entry(1, "-30", EntryKind.OTHER), entry(2, "10")]
    assert locate_put(entries, Decimal("100"), Decimal("80")) == (1, Decimal("-30"))


def test_a_change_between_the_mark_and_the_read_is_already_in_the_balance_read():
    # mark, then a refund +5 lands, we read 105 and PUT 85: nothing overwritten
    entries = [entry(1, "5", EntryKind.OTHER), entry(2, "-20")]
    assert locate_put(entries, Decimal("105"), Decimal("85")) == (1, Decimal("0"))


def test_changes_after_our_put_are_not_ours_to_restore():
    entries = [entry(1, "-20"), entry(2, "-7", EntryKind.OTHER)]
    assert locate_put(entries, Decimal("100"), Decimal("80")) == (0, Decimal("0"))


def test_no_set_entry_that_fits_means_not_applied():
    assert locate_put([], Decimal("100"), Decimal("80")) is None
    assert locate_put([entry(1, "-20", EntryKind.OTHER)], Decimal("100"), Decimal("80")) is None


def test_two_entries_that_could_be_ours_are_ambiguous():
    # ours (or not) -20, another app +20, another app -20: two readings
    entries = [entry(1, "-20"), entry(2, "20"), entry(3, "-20")]
    assert locate_put(entries, Decimal("100"), Decimal("80")) is AMBIGUOUS


def test_explains_the_balance_by_the_entries_after_the_read():
    entries = [entry(1, "5", EntryKind.OTHER), entry(2, "-30", EntryKind.OTHER)]
    assert explains(entries, Decimal("105"), Decimal("75"))   # the refund was before our read
    assert explains(entries, Decimal("100"), Decimal("75"))   # both after
    assert explains([], Decimal("100"), Decimal("100"))
    assert not explains(entries, Decimal("100"), Decimal("80"))


def test_a_put_that_changed_nothing_is_told_by_changes_that_reached_our_target_before_it():
    # read 100, a checkout of -20 (80), our PUT of 80 changes nothing and makes no entry
    checkout = [entry(1, "-20", EntryKind.OTHER)]
    assert locate_put(checkout, Decimal("100"), Decimal("80")) is None
    assert unchanged_put(checkout, Decimal("100"), Decimal("80"))
    # ... also with a change before our read (after the mark) and one after our PUT
    around = [entry(1, "5", EntryKind.OTHER), entry(2, "-20", EntryKind.OTHER), entry(3, "-1", EntryKind.OTHER)]
    assert unchanged_put(around, Decimal("105"), Decimal("85"))
    # changes that never reach our target: not this case (a review decides)
    assert not unchanged_put([entry(1, "-15", EntryKind.OTHER)], Decimal("100"), Decimal("80"))
