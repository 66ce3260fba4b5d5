"""Every *[unverified]* choice of the SHOPLINE emulator, in one place.

SHOPLINE's gift-card REST pages (developer.shopline.com, Admin REST API > Product > Gift Card, and
the general pages "Http status code", "Paging Mechanism" and "SHOPLINE API rate limit") document
the endpoints, parameters and status codes; /work/shared/spec/ledgers.md §1 summarises them.
Where they are silent or contradict each other, the emulator picks the documented or likeliest
shape and the pick lives here, so a correction after a check on a live store is a one-line change:

- ``CREATE_STATUS``: a created card is answered ``201 Created`` (the status-code page lists 201
  for "new resource created"; the create page does not say). Clients should accept 200 and 201.
- ``RETURN_FULL_CODE``: the full ``code`` is never in an Admin API answer, only
  ``last_characters``; only /_emulator/state shows it (ledgers.md: supply your own code so it
  never has to come back).
- ``PUT_BODY_WRAPPED``: the update page lists ``balance``, ``expires_on`` and ``note`` at the top
  level of the body while create wraps its fields in ``gift_card``. The emulator accepts both
  ``{"gift_card": {...}}`` and the bare fields, and records which shape each PUT used
  (``put_shapes`` in /_emulator/state) so a test can pin the client's choice.
- ``PUT_OPERATION_TYPE``: a balance set by ``PUT`` is recorded as ``OPERATE_ACTION_ADJUST_BALANCE``
  whichever way it moved: the operation-records page defines ADJUST_BALANCE as "balance adjustment
  by third-party applications", DEDUCT as "deduction from gift card payment" and REFUND as "refund
  returned to gift card". Changes by a checkout (the ``foreign_change`` fault) are DEDUCT/REFUND.
- ``RECORD_UNCHANGED_PUT``: a ``PUT`` that leaves the balance as it was records nothing.
- ``SECOND_DISABLE_STATUS``: disabling a disabled card answers ``422`` (the first ``disabled_at``
  stays). The page only says disabling is final.
- ``DISABLED_CARD_UPDATE_STATUS``: any ``PUT`` on a disabled card answers ``422``.
- ``CODE_FILTER_SINCE``: the ``code`` filter of ``GET gift_cards.json`` exists from v20260301 on
  (it is on that version's page, not on v20250601's). On older versions it is ignored like any
  unknown parameter, so the list is NOT narrowed: a client must not rely on it there. On newer
  versions it is an exact, case-sensitive match (exactness itself is unverified).
- ``RECORDS_MAX_LIMIT``: the English operation-records page says ``limit`` "can not exceed 100",
  the Chinese one 250: the emulator takes the stricter 100. Gift-card lists allow 250.
- ``LIMIT_OUT_OF_RANGE_STATUS``: a ``limit`` outside its range, an unknown ``status``,
  ``sort_order`` or ``operation_type``, a bad timestamp or a ``page_info`` that is not one of
  ours answers ``422`` (the status page: 422 for "incorrect input format").
- ``HISTORY_DAYS`` and the window rule: operation records older than 180 days are never answered,
  and a ``createtime_at_min`` before the window is silently moved to the window's start (the page:
  "up to 180 days of data can be queried"); no error says history was cut.
- ``record_view``: the operation-record fields are undocumented. Chosen: ``id``,
  ``gift_card_id``, ``operation_type``, ``balance_before``, ``balance_after``, ``change_amount``
  (signed, negative when the balance went down), ``currency``, ``created_at``; the list is wrapped
  in ``{"operation_records": [...]}``.
- ``TIME_FORMAT``: times are ISO 8601 with an explicit offset, ``2026-11-20T15:13:22+00:00`` (the
  pages' examples carry an offset, ``2023-08-16T23:59:59+08:00``); the emulator answers in UTC.
- ``STRICT_TYPES``: money fields must be JSON strings (``"50.00"``); a JSON number is a ``400``
  ("incorrect parameter type of request" on the status page), not silently accepted.
- Error messages: the bodies are ``{"errors": "<text>"}`` as documented; the texts themselves
  (except 429's "Too many request") are the emulator's.
- ``Link`` header: one header, entries ``<url>; rel="previous"`` and ``<url>; rel="next"`` joined
  by ", " (RFC 8288); the URLs carry ``limit`` and ``page_info`` only, as in the paging page's
  example. ``page_info`` is URL-safe base64 of a JSON object holding the position and the filters.
"""

from __future__ import annotations

from typing import Any

CREATE_STATUS = 201
RETURN_FULL_CODE = False
PUT_BODY_WRAPPED = "either"  # "gift_card" wrapper or bare fields, both accepted
PUT_OPERATION_TYPE = "OPERATE_ACTION_ADJUST_BALANCE"
RECORD_UNCHANGED_PUT = False
SECOND_DISABLE_STATUS = 422
DISABLED_CARD_UPDATE_STATUS = 422
CODE_FILTER_SINCE = "v20260301"
CARDS_DEFAULT_LIMIT = 50
CARDS_MAX_LIMIT = 250
RECORDS_DEFAULT_LIMIT = 50
RECORDS_MAX_LIMIT = 100
LIMIT_OUT_OF_RANGE_STATUS = 422
HISTORY_DAYS = 180
STRICT_TYPES = True
TIME_FORMAT = "iso8601-offset"

DEDUCT = "OPERATE_ACTION_DEDUCT"
REFUND = "OPERATE_ACTION_REFUND"
ADJUST_BALANCE = "OPERATE_ACTION_ADJUST_BALANCE"
OPERATION_TYPES = (DEDUCT, REFUND, ADJUST_BALANCE)


def record_view(record: Any, format_amount: Any, format_time: Any) -> dict[str, Any]:
    """The shape of one operation record on the wire (see the module docstring)."""
    return {
        "id": record.id,
        "gift_card_id": record.gift_card_id,
        "operation_type": record.operation_type,
        "balance_before": format_amount(record.balance_before, record.currency),
        "balance_after": format_amount(record.balance_after, record.currency),
        "change_amount": format_amount(record.balance_after - record.balance_before, record.currency),
        "currency": record.currency,
        "created_at": format_time(record.created_at),
    }


RECORDS_ENVELOPE = "operation_records"
