"""The shared core: configuration, models and migrations, database, clock, errors, catalogue, states."""
