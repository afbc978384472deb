"""The drift report: the same requests sent to the live API and to the mock, compared."""
