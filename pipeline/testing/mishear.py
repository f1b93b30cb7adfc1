"""`mishear`: a backend plugin for testing verification, that says the wrong sentence.

It speaks through Piper (real speech, via the backend host), except that a chunk whose text
contains the option `trigger` (default "harbour") is spoken as the option `instead` (default
a sentence about the weather): audio of the right length that says something else, which only
a recognizer can catch. Load it through the entry point `mishear = voxline.testing.mishear`
(see `tests/verify/test_verify_cli.py`); configure it under `[backends.mishear]`.
"""

from __future__ import annotations

import dataclasses

import voxline
from voxline import Backend, Capabilities, Option, Voice

INSTEAD = "Rain is expected across the north of the country tomorrow, and the south stays dry."


class MishearBackend(Backend):
    name = "mishear"
    version = "1"
    # the same text always gets the same (wrong) words: a retry cannot help, the fallback can
    capabilities = Capabilities(sample_rate_hz=22050, languages=("en",),
                                voices=(Voice("joe", "en"),), budget_chars=200,
                                deterministic=True)
    option_specs = (
        Option("trigger", str, "harbour", "the word that makes it say the wrong sentence"),
        Option("instead", str, INSTEAD, "the wrong sentence"),
    )

    def synthesize(self, request):
        trigger = str(self.options.get("trigger", "harbour"))
        if trigger.lower() in request.text.lower():
            request = dataclasses.replace(request, text=str(self.options.get("instead",
                                                                             INSTEAD)))
        return self.host.backend("piper").synthesize(dataclasses.replace(request, voice=None))


@voxline.hookimpl
def register_backends(register):
    register(MishearBackend)
