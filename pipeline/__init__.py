"""gongkai's domain: configuration, models, review workflow, delivery, ledger, report and the CLI."""
