"""voxline's pytest plugin as a plugin author meets it: a test file in a fresh project that
uses the fixtures with no import, run by pytest in a subprocess."""

from __future__ import annotations

pytest_plugins = ["pytester"]

AUTHOR_TESTS = '''
import voxline
from voxline import Normalizer
from voxline.testing.plugin import assert_audio


class Exclaim(Normalizer):
    name = "exclaim"
    version = "1"
    languages = ("en",)

    def normalize(self, text, language):
        return text.replace("voxline", "vox line")


class ExclaimPlugin:
    @voxline.hookimpl
    def register_normalizers(self, register):
        register(Exclaim)


def test_tone_job(voxline_tone, voxline_run):
    result = voxline_run("One sentence. Another one here.", backend="tone")
    assert_audio(result, min_s=1.0, max_s=5.0)
    assert result.backends == {"tone": result.report.documents[0].chunks}
    assert set(result.stage_s) >= {"normalize", "synthesize", "concatenate"}


def test_my_normalizer_is_used(voxline_tone, voxline_run):
    voxline_tone.register(ExclaimPlugin())
    plain = voxline_run("voxline", backend="tone", lang="en")
    # the tone backend's audio length follows the text: "vox line" is one character longer
    assert abs(plain.duration_s - 0.08 * len("vox line")) < 0.01


def test_a_real_engine(voxline_run):
    assert_audio(voxline_run("Hello from a plugin test.", backend="espeak"), min_s=0.5)


def test_assert_audio_catches_a_failed_job(voxline_tone, voxline_run):
    import pytest

    result = voxline_run("Please FAIL here.", backend="tone", fallback="")
    with pytest.raises(AssertionError):
        assert_audio(result)
'''


def test_fixtures_work_in_a_plugin_authors_tests(pytester):
    pytester.makepyfile(test_author=AUTHOR_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4)
