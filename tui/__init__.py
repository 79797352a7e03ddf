"""The Textual wizard (`p2m tui`), a shell over `p2m.Pipeline` like the CLI."""
