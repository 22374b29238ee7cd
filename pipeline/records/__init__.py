"""The office's records: ledger, ledger import, request and appeal registers, calendar, figures, audit."""
