"""An example voxline plugin package: `cantonese` (a normalizer) and `command` (a backend)."""
