"""Helpers for testing voxline and its plugins.

`voxline.testing.servers` holds real HTTP servers (on 127.0.0.1) that speak the protocols of
the server backends (ChatTTS, OpenAI speech, Ollama) with real speech, and misbehave on
request; the test suite and the benchmarks use them. `voxline.testing.tone` is a deterministic
backend plugin. `voxline.testing.plugin` is a pytest plugin for plugin authors (fixtures
`voxline_pm`, `voxline_tone`, `voxline_run`), loaded automatically once voxline is installed;
its `assert_audio` checks an output as a user would. (Nothing here is imported by voxline
itself, and this package imports neither pytest nor a backend until asked.)
"""
