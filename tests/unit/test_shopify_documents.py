"""Every document the client sends validates against the vendored 2026-07 Admin schema, with the
standard rules plus NoDeprecatedCustomRule (spec §2). The negative cases prove the check bites."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, specified_rules, validate
from graphql.validation import NoDeprecatedCustomRule

from adapter.shopify.documents import ALL_DOCUMENTS, CREATE_CARD, Document

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "adapter" / "shopify" / "schema" / "admin-2026-07.graphql"
SHARED = Path("/work/shared/shopify/admin-2026-07.graphql")

RULES = [*specified_rules, NoDeprecatedCustomRule]


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    # 3.8 MB of SDL: built once for the module. assume_valid skips graphql-core's checks of the
    # schema itself: Shopify's live SDL breaks one of them (a deprecated Customer field that
    # implements a non-deprecated interface field), which says nothing about our documents.
    return build_schema(VENDORED.read_text(encoding="utf-8"), assume_valid=True)


def problems(schema: GraphQLSchema, text: str) -> list[str]:
    return [error.message for error in validate(schema, parse(text), RULES)]


@pytest.mark.parametrize("document", ALL_DOCUMENTS, ids=lambda d: d.operation_name)
def test_document_validates_against_2026_07(schema: GraphQLSchema, document: Document) -> None:
    assert problems(schema, document.text) == []


@pytest.mark.parametrize("document", ALL_DOCUMENTS, ids=lambda d: d.operation_name)
def test_document_names_its_operation_and_root_field(document: Document) -> None:
    ast = parse(document.text)
    (operation,) = ast.definitions
    assert operation.name.value == document.operation_name
    assert operation.operation.value == ("mutation" if document.is_write else "query")
    assert [field.name.value for field in operation.selection_set.selections] == [document.root_field]


def test_operation_names_are_unique() -> None:
    names = [d.operation_name for d in ALL_DOCUMENTS]
    assert len(names) == len(set(names))


def test_create_uses_initial_amount_not_deprecated_initial_value() -> None:
    assert "GiftCardCreateInput" in CREATE_CARD.text
    assert "initialValue" not in CREATE_CARD.text


def test_deprecated_input_field_is_rejected(schema: GraphQLSchema) -> None:
    text = """mutation Old($amount: Decimal!) {
      giftCardCreate(input: {initialValue: $amount}) { giftCard { id } userErrors { field code message } }
    }"""
    found = problems(schema, text)
    assert any("initialValue" in message and "deprecated" in message for message in found), found


def test_undefined_field_is_rejected(schema: GraphQLSchema) -> None:
    # Credit/debit payloads have no giftCard field (spec §4).
    text = """mutation Bad($id: ID!, $input: GiftCardDebitInput!) {
      giftCardDebit(id: $id, debitInput: $input) { giftCard { id } userErrors { field code message } }
    }"""
    found = problems(schema, text)
    assert any("giftCard" in message for message in found), found


def test_user_error_without_code_is_rejected(schema: GraphQLSchema) -> None:
    text = """mutation Upd($id: ID!, $input: GiftCardUpdateInput!) {
      giftCardUpdate(id: $id, input: $input) { userErrors { field code message } }
    }"""
    assert problems(schema, text)


@pytest.mark.skipif(not SHARED.exists(), reason="shared schema not present")
def test_vendored_schema_is_the_shared_one() -> None:
    assert VENDORED.read_bytes() == SHARED.read_bytes()
