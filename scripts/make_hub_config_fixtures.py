"""Regenerate tests/data/hubconfigs/: Hub configs written by the real libraries.

Tiny models (random weights, never downloaded) are saved with each library's own
``save_pretrained``/``save``; only the JSON files are kept (the weights are not needed to judge
what the configs make a loader import):

* ``peft_lora_causal``: ``LoraConfig(task_type="CAUSAL_LM", ...).save_pretrained``;
* ``peft_auto_mapping``: ``get_peft_model(BertModel, LoraConfig(...)).save_pretrained`` with no
  task type, so PEFT writes ``auto_mapping`` (``parent_library`` = the model's module);
* ``diffusers_ddpm``: ``DDPMPipeline(UNet2DModel, DDPMScheduler).save_pretrained``;
* ``diffusers_sd``: a tiny ``StableDiffusionPipeline`` (CLIP text encoder and tokenizer, safety
  checker, image processor) ``.save_pretrained``: components from ``diffusers``,
  ``transformers`` and the ``stable_diffusion`` pipeline module;
* ``st_bert``: ``SentenceTransformer([Transformer, Pooling, Normalize]).save``;
* ``processors``: ``CLIPImageProcessor``, ``WhisperFeatureExtractor`` and ``CLIPProcessor``
  ``.save_pretrained``.

Usage (test-time libraries, not runtime dependencies)::

    pip install peft diffusers sentence-transformers transformers torch==2.13.0
    python scripts/make_hub_config_fixtures.py
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests/data/hubconfigs"


def _keep_json(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*.json")):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(json.loads(path.read_text()), indent=2) + "\n")


def _tiny_bert(folder: Path) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    tok = BertTokenizerFast(vocab_file=str(vocab))
    config = BertConfig(
        vocab_size=7,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
    )
    path = folder / "bert"
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def peft_fixtures(tmp: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import BertModel

    LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj"],
        task_type="CAUSAL_LM",
        base_model_name_or_path="facebook/opt-125m",
    ).save_pretrained(tmp / "peft_lora_causal")
    _tiny_bert(tmp)
    cwd = os.getcwd()
    os.chdir(tmp)  # loaded as "bert", which PEFT records as base_model_name_or_path
    try:
        base = BertModel.from_pretrained("bert")
    finally:
        os.chdir(cwd)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["query", "value"]))
    model.save_pretrained(tmp / "peft_auto_mapping")
    for name in ("peft_lora_causal", "peft_auto_mapping"):
        _keep_json(tmp / name, OUT / name)


def diffusers_fixtures(tmp: Path) -> None:
    from diffusers import (
        AutoencoderKL,
        DDPMPipeline,
        DDPMScheduler,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
        UNet2DModel,
    )
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
    )

    unet = UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    )
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler()).save_pretrained(tmp / "diffusers_ddpm")
    _keep_json(tmp / "diffusers_ddpm", OUT / "diffusers_ddpm")

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "b</w>": 3}
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"))
    text_config = CLIPTextConfig(
        vocab_size=4,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        projection_dim=8,
    )
    clip = CLIPConfig(
        text_config=text_config.to_dict(),
        vision_config={
            "hidden_size": 8,
            "intermediate_size": 16,
            "image_size": 8,
            "patch_size": 4,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        projection_dim=8,
    )
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(
            block_out_channels=(8,),
            norm_num_groups=4,
            latent_channels=4,
            down_block_types=("DownEncoderBlock2D",),
            up_block_types=("UpDecoderBlock2D",),
        ),
        text_encoder=CLIPTextModel(text_config),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(
            sample_size=8,
            block_out_channels=(8, 8),
            layers_per_block=1,
            norm_num_groups=4,
            cross_attention_dim=8,
            attention_head_dim=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        ),
        scheduler=PNDMScheduler(skip_prk_steps=True),
        safety_checker=StableDiffusionSafetyChecker(clip),
        feature_extractor=CLIPImageProcessor(crop_size=8, size=8),
    )
    pipe.save_pretrained(tmp / "diffusers_sd")
    _keep_json(tmp / "diffusers_sd", OUT / "diffusers_sd")


def sentence_transformers_fixtures(tmp: Path) -> None:
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(_tiny_bert(tmp)))
    pooling = models.Pooling(transformer.get_embedding_dimension())
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()])
    model.save(str(tmp / "st_bert"))
    _keep_json(tmp / "st_bert", OUT / "st_bert")


def processor_fixtures(tmp: Path) -> None:
    from transformers import (
        CLIPImageProcessor,
        CLIPProcessor,
        CLIPTokenizer,
        WhisperFeatureExtractor,
    )

    CLIPImageProcessor().save_pretrained(tmp / "processors/clip_image")
    WhisperFeatureExtractor().save_pretrained(tmp / "processors/whisper")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"))
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(
        tmp / "processors/clip_processor"
    )
    _keep_json(tmp / "processors", OUT / "processors")


def main() -> None:
    warnings.simplefilter("ignore")
    if OUT.exists():
        shutil.rmtree(OUT)
    with tempfile.TemporaryDirectory() as tmp:
        for make in (
            peft_fixtures,
            diffusers_fixtures,
            sentence_transformers_fixtures,
            processor_fixtures,
        ):
            sub = Path(tmp) / make.__name__
            sub.mkdir()
            make(sub)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
