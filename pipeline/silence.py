"""The silence a document may ask for. Pauses are inserted at concatenation (SSML `<break>`s,
several in a row adding up, paragraph and dialogue-turn pauses), so a small file could ask
for hours of silence (thousands of `<break time="30s"/>`). Each point's pause is capped, and
so is the document's total, relative to its speech."""

from __future__ import annotations

# whatever its speech, a document may have this much inserted silence in all
SILENCE_FLOOR_S = 60.0


class SilenceBudget:
    """One document's inserted silence: at most `max_pause_s` at one point, and in all at
    most SILENCE_FLOOR_S plus `max_ratio` times the speech before it (so silence never runs
    ahead of the speech it separates)."""

    def __init__(self, max_pause_s: float, max_ratio: float,
                 floor_s: float = SILENCE_FLOOR_S):
        self.max_pause_s = max_pause_s
        self.max_ratio = max_ratio
        self.floor_s = floor_s
        self.speech_s = 0.0
        self.asked_s = 0.0
        self.granted_s = 0.0
        self.capped = False

    def speech(self, seconds: float) -> None:
        self.speech_s += seconds

    def pause(self, seconds: float) -> float:
        """How much of a pause of `seconds` is inserted here."""
        self.asked_s += seconds
        room = self.floor_s + self.max_ratio * self.speech_s - self.granted_s
        granted = max(0.0, min(seconds, self.max_pause_s, room))
        if granted < seconds:
            self.capped = True
        self.granted_s += granted
        return granted

    def warning(self) -> str | None:
        """What a capped document's summary says, or None."""
        if not self.capped:
            return None
        return (f"pauses asked for {self.asked_s:.0f}s of silence against "
                f"{self.speech_s:.1f}s of speech; {self.granted_s:.1f}s inserted (at most "
                f"{self.max_pause_s:g}s at one point, and {self.floor_s:g}s plus "
                f"{self.max_ratio:g}x the speech in a document: [synth] max_pause, "
                "max_silence_ratio)")
