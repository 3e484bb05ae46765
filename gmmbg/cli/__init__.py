"""The `gmmbg` command line: one small module per subcommand, shared options in options.py."""
