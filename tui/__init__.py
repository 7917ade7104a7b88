"""The full-screen terminal UI, `git vault tui` (prompt_toolkit): a thin view over
`gitvault.query`, like the CLI and the MCP server.

`tui.app` holds the application, `tui.state` the one state object every panel reads,
`tui.keys` the key map (bindings, help and hints come from it), `tui.loads` what is asked of the
query layer on its worker thread, `tui.views` what each panel shows, `tui.chart` the braille
charts, `tui.controls` the line-by-line control every list and document is drawn with."""
