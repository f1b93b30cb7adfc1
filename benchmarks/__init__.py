"""voxline benchmarks: `python -m benchmarks [NAME]`."""
