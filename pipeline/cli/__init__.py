"""The `voxline` command line."""
