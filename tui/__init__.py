"""The Textual terminal UI (`voxline tui`). Nothing here is imported by the core."""
