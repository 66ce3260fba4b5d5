"""Print the schemathesis run's summary (cases, failures by class) at the end of the session."""

import sys


def pytest_terminal_summary(terminalreporter):
    found = sys.modules.get("tests.fuzz.findings")
    for summary in getattr(found, "RESULTS", []):
        terminalreporter.write_sep("-", "schemathesis")
        terminalreporter.write_line(summary)
