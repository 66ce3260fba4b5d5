from adapter.services.context import CardIdCache


def test_keeps_the_most_recently_used_within_its_bound():
    cache = CardIdCache(size=2)
    cache.put(b"a", "gid://shopify/GiftCard/1")
    cache.put(b"b", "gid://shopify/GiftCard/2")
    assert cache.get(b"a") == "gid://shopify/GiftCard/1"  # a is now the most recent
    cache.put(b"c", "gid://shopify/GiftCard/3")
    assert cache.get(b"b") is None
    assert cache.get(b"a") == "gid://shopify/GiftCard/1" and cache.get(b"c") == "gid://shopify/GiftCard/3"


# ---- the memory of unknown codes ---------------------------------------------------------------

from adapter.services.context import UnknownCodes  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_unknown_code_is_remembered_for_its_ttl_only():
    clock = Clock()
    unknown = UnknownCodes(ttl=30, clock=clock)
    unknown.add(b"a")
    clock.now = 29.9
    assert b"a" in unknown
    clock.now = 30.0
    assert b"a" not in unknown and len(unknown) == 0


def test_a_code_that_became_known_is_forgotten_at_once():
    unknown = UnknownCodes(ttl=30, clock=Clock())
    unknown.add(b"a")
    unknown.discard(b"a")
    unknown.discard(b"never-added")
    assert b"a" not in unknown


def test_unknown_codes_are_bounded_oldest_out_and_expired_ones_dropped_as_new_arrive():
    clock = Clock()
    unknown = UnknownCodes(ttl=30, size=2, clock=clock)
    unknown.add(b"a")
    clock.now = 1
    unknown.add(b"b")
    unknown.add(b"a")  # asked again: remembered afresh, now the newest
    unknown.add(b"c")
    assert b"b" not in unknown and b"a" in unknown and b"c" in unknown
    clock.now = 40
    unknown.add(b"d")
    assert len(unknown) == 1


def test_a_ttl_of_zero_remembers_nothing():
    unknown = UnknownCodes(ttl=0, clock=Clock())
    unknown.add(b"a")
    assert b"a" not in unknown and len(unknown) == 0
