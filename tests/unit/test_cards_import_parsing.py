"""cards import without a database: ledger id forms, the header, the file reader, the ledger default."""


import pytest

from adapter import cardimport
from adapter.__main__ import main
from adapter.cardimport import CsvFile, ImportFileError, find_columns, ledger_id

GID = "gid://shopify/GiftCard/"


@pytest.mark.parametrize("ledger, raw, stored", [
    ("shopify", "123", f"{GID}123"),
    ("shopify", f" {GID}123 ", f"{GID}123"),
    ("shopify", "0123", None),
    ("shopify", f"{GID}abc", None),
    ("shopify", "gid://shopify/Order/1", None),
    ("shopify", "1" * 21, None),
    ("shopify", "-5", None),
    ("shopline", "0123456789" * 6 + "0123", "0123456789" * 6 + "0123"),
    ("shopline", "1" * 65, None),
    ("shopline", f"{GID}1", None),
    ("gifthero", "987654321", "987654321"),
    ("gifthero", f"{GID}987654321", None),
    ("gifthero", "12.0", None),
])
def test_ledger_id_forms(ledger, raw, stored):
    assert ledger_id(ledger, raw) == stored


def test_header_names_are_matched_whatever_their_case_and_spacing():
    columns = find_columns(["Note", " Gift Card Code ", "LEDGER_ID", "Currency", "Last-Characters"])
    assert (columns.width, columns.code, columns.id, columns.currency, columns.last_characters) == (5, 1, 2, 3, 4)
    assert find_columns(["Code", "Id"]).currency is None


@pytest.mark.parametrize("header, message", [
    (["code", "card"], "no ledger card id column"),
    (["number", "id"], "no code column"),
    (["code", "gift_card_code", "id"], "more than one code column"),
    (["code", "id", "ledger_id"], "more than one ledger card id column"),
    (["code", "id", "currency", "Currency"], "more than one currency column"),
])
def test_a_header_without_or_with_two_of_a_column_is_refused(header, message):
    with pytest.raises(ImportFileError, match=message):
        find_columns(header)


def test_rows_are_numbered_by_the_line_they_start_on(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf\r\ncode,id,note\r\na,1,\"two\r\nlines\"\r\n\r\nb,2,x\r\n")
    with CsvFile(path) as csv_file:
        assert csv_file.header == ["code", "id", "note"]
        assert list(csv_file.rows()) == [(3, ["a", "1", "two\r\nlines"]), (5, []), (6, ["b", "2", "x"])]


def test_a_line_too_long_makes_the_file_unreadable(tmp_path, monkeypatch):
    monkeypatch.setattr(cardimport, "MAX_LINE", 40)
    path = tmp_path / "export.csv"
    path.write_text("code,id\n" + "a" * 50 + ",1\n")
    with CsvFile(path) as csv_file, pytest.raises(ImportFileError, match="line 2 is longer than 40"):
        list(csv_file.rows())


def test_bytes_that_are_not_utf8_do_not_stop_the_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"code,id\nab\xffcdefgh1234,1\n")
    with CsvFile(path) as csv_file:
        assert list(csv_file.rows()) == [(2, ["ab\ufffdcdefgh1234", "1"])]  # then refused as not a card number


def test_the_command_line_knows_exactly_the_ledgers_the_import_does(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["cards", "import", "x.csv", "--ledger", "nope"])
    assert exit.value.code == 2
    assert f"choose from {', '.join(repr(name) for name in cardimport.LEDGERS)}" in capsys.readouterr().err
