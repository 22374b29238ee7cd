"""The `gongkai` command line."""
