"""A ChatTTS model folder with random weights, built from ChatTTS's own config and model classes.

The official weights are not on PyPI, so voxline's tests and benchmarks build a folder of the
same layout, shapes and tokenizer (21 178 tokens with ChatTTS's control tokens) whose weights
are random. The library's whole code path runs on it: tokenize, embed, GPT sampling, DVAE
decoding, Vocos. The audio is noise of the right rate and length; the end-of-speech token is
made unreachable, so every call runs to its `max_new_token`. Per-token cost does not depend on the
weights, so a full-size folder (`layers=20`) runs at the real model's speed.

    python -m voxline.testing.chattts_assets DIR [--layers N]

Needs the `chattts` extra. Nothing here is imported by voxline itself.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

# the files ChatTTS's `check_all_assets` looks for, relative to the model folder
from voxline.plugins.chattts_local import ASSET_FILES

VERSION = "1"  # bump when the folder this builds changes

# ChatTTS's control tokens. Those from [break_0] on are the refine step's own and are stripped
# from its output by id (`ids < break_0`), so they come last, as in the released tokenizer.
_CONTROL = (
    ["[uv_break]", "[v_break]", "[lbreak]", "[laugh]", "[spk_emb]", "[empty_spk]", "[Stts]",
     "[Ptts]", "[Sbreak]", "[Pbreak]", "[Ebreak]", "[music]"]
    + [f"[speed_{i}]" for i in range(10)] + [f"[oral_{i}]" for i in range(10)]
    + [f"[laugh_{i}]" for i in range(3)] + [f"[break_{i}]" for i in range(8)]
)


def _vocabulary(size: int) -> list[str]:
    """BERT-style tokens: specials, ASCII letters and word pieces, CJK ideographs, then
    ChatTTS's control tokens, `size` in all."""
    head = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "，", "。", "、", ",", ".", " "]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    head += letters + [f"##{c}" for c in letters]
    cjk_room = size - len(head) - len(_CONTROL)
    head += [chr(0x4E00 + i) for i in range(cjk_room)]
    vocab = head + _CONTROL
    assert len(vocab) == size, (len(vocab), size)
    return vocab


def _wordpiece(vocab: list[str]):
    """A BERT WordPiece tokenizer over `vocab`, control tokens kept whole."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    tokenizer = Tokenizer(WordPiece({token: i for i, token in enumerate(vocab)},
                                    unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True,
                                                      handle_chinese_chars=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_CONTROL])
    return tokenizer


def _save(module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path))


def build(folder: Path | str, layers: int = 2, seed: int = 0, stops: bool = False) -> Path:
    """Write a ChatTTS model folder with random weights to `folder` (its `asset/` beneath);
    returns `folder`. The GPT has `layers` layers (the released model has 20). Unless
    `stops`, the model never ends speech on its own: every chunk runs to its token limit, so
    audio lengths and token counts are exact and the truncation path always runs."""
    import torch
    from transformers import BertTokenizerFast, LlamaConfig, LlamaModel
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    from ChatTTS.config import Config
    from ChatTTS.model import DVAE, Embed

    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "asset" / "gpt").mkdir(parents=True)
    (partial / "asset" / "tokenizer").mkdir(parents=True)
    built = partial / "asset"
    torch.manual_seed(seed)
    config = Config()

    vocos = Vocos(
        feature_extractor=instantiate_class((), asdict(config.vocos.feature_extractor)),
        backbone=instantiate_class((), asdict(config.vocos.backbone)),
        head=instantiate_class((), asdict(config.vocos.head)),
    )
    _save(vocos, built / "Vocos.safetensors")
    dvae = DVAE(decoder_config=asdict(config.dvae.decoder),
                encoder_config=asdict(config.dvae.encoder),
                vq_config=asdict(config.dvae.vq), dim=config.dvae.decoder.idim)
    _save(dvae, built / "DVAE.safetensors")
    decoder = DVAE(decoder_config=asdict(config.decoder), dim=config.decoder.idim)
    _save(decoder, built / "Decoder.safetensors")
    embed = Embed(config.embed.hidden_size, config.embed.num_audio_tokens,
                  config.embed.num_text_tokens, config.embed.num_vq)
    if not stops:
        # end-of-speech is the last audio token: a zero row gives it logit 0, far below the
        # top-K of 625 random logits, so sampling never picks it
        with torch.no_grad():
            for head in embed.head_code:
                head.parametrizations.weight.original0[-1].zero_()
    _save(embed, built / "Embed.safetensors")

    gpt_config = asdict(config.gpt)
    gpt_config.update(num_hidden_layers=layers, vocab_size=32)  # ChatTTS drops embed_tokens
    gpt = LlamaModel(LlamaConfig(**gpt_config))
    gpt.save_pretrained(str(built / "gpt"), safe_serialization=True)
    for extra in (built / "gpt").iterdir():
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()

    tokenizer = BertTokenizerFast(tokenizer_object=_wordpiece(
        _vocabulary(config.gpt.num_text_tokens)), unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        additional_special_tokens=list(_CONTROL))
    tokenizer.save_pretrained(str(built / "tokenizer"))
    special = built / "tokenizer" / "special_tokens_map.json"
    if not special.exists():  # newer transformers keep these in tokenizer_config.json only
        special.write_text(json.dumps({"additional_special_tokens": list(_CONTROL)}),
                           encoding="utf-8")
    for extra in (built / "tokenizer").iterdir():
        if extra.name not in ("special_tokens_map.json", "tokenizer_config.json",
                              "tokenizer.json"):
            extra.unlink()

    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(folder)
    assert all((folder / name).is_file() for name in ASSET_FILES)
    return folder


def cached(root: Path | str, layers: int = 2) -> Path:
    """The random-weight folder under `root`, built on first use and kept after; its name
    holds the versions of the libraries that shape it, so an upgrade builds a new one."""
    import importlib.metadata

    versions = "-".join(importlib.metadata.version(p)
                        for p in ("chattts", "transformers", "torch"))
    folder = Path(root) / f"chattts-random-{layers}l-{versions}-{VERSION}"
    if not all((folder / name).is_file() for name in ASSET_FILES):
        build(folder, layers=layers)
    return folder


def sha256_map(folder: Path | str) -> dict[str, str]:
    """The `Chat.sha256_map` entries for the files in `folder` (keys as ChatTTS spells them)."""
    from voxline.plugins.chattts_local import _hash_key, _sha256

    return {_hash_key(name): _sha256(Path(folder) / name) for name in ASSET_FILES}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m voxline.testing.chattts_assets",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--layers", type=int, default=2,
                        help="GPT layers (the released model has 20) [default: 2]")
    args = parser.parse_args(argv)
    build(args.folder, args.layers)
    print(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
