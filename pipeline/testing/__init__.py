"""Helpers for testing voxline and its plugins.

`voxline.testing.servers` holds real HTTP servers (on 127.0.0.1) that speak the protocols of
the server backends (ChatTTS, OpenAI speech, Ollama) with real speech, and misbehave on
request; the test suite and the benchmarks use them.
"""
