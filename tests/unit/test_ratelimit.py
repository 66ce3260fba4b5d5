from adapter.http.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_admitted_then_refused_with_the_wait_until_the_next_token():
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    assert [limiter.take(0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(0) == 0.5
    clock.now += 0.25
    assert limiter.take(0) == 0.25  # refused again: half a token is not a token
    clock.now += 0.25
    assert limiter.take(0) == 0.0


def test_keys_have_buckets_of_their_own():
    limiter = RateLimiter(per_second=1, burst=1, clock=Clock())
    assert limiter.take(0) == 0.0 and limiter.take(0) > 0
    assert limiter.take(1) == 0.0
    assert limiter.take(None) == 0.0


def test_refill_stops_at_the_burst():
    clock = Clock()
    limiter = RateLimiter(per_second=10, burst=2, clock=clock)
    limiter.take(0)
    clock.now += 3600
    assert [limiter.take(0) for _ in range(3)][-1] > 0


def test_zero_disables():
    limiter = RateLimiter(per_second=0, burst=0, clock=Clock())
    assert not limiter.enabled
    assert all(limiter.take(0) == 0.0 for _ in range(1000))
