"""What each panel and view shows: pure functions from the TUI's state and the query layer's
answers to lines of prompt_toolkit text (no I/O, no prompt_toolkit application)."""
