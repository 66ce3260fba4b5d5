from adapter.services.context import CardIdCache


def test_keeps_the_most_recently_used_within_its_bound():
    cache = CardIdCache(size=2)
    cache.put(b"a", "gid://shopify/GiftCard/1")
    cache.put(b"b", "gid://shopify/GiftCard/2")
    assert cache.get(b"a") == "gid://shopify/GiftCard/1"  # a is now the most recent
    cache.put(b"c", "gid://shopify/GiftCard/3")
    assert cache.get(b"b") is None
    assert cache.get(b"a") == "gid://shopify/GiftCard/1" and cache.get(b"c") == "gid://shopify/GiftCard/3"
