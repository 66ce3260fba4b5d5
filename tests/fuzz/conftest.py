"""Print the schemathesis run's summary (cases, failures by class) at the end of the session."""


def pytest_terminal_summary(terminalreporter):
    from tests.fuzz.test_schemathesis import RESULTS

    for summary in RESULTS:
        terminalreporter.write_sep("-", "schemathesis")
        terminalreporter.write_line(summary)
