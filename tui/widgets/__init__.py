"""The TUI's widgets, one per module; each draws itself from a `JobView`."""
