"""Size presets of every network, by name: "tiny" (CPU smoke runs), "small" (one T4, colab), "base" (a GPU server).

A profile names a preset per network (``mae_preset``, ``contrastive_encoder``, ``diffusion_preset``); the config
classes read these tables::

    >>> MAEConfig.preset("tiny", img_size=(64, 64, 64))                       # doctest: +SKIP
    >>> EncoderConfig.preset("small", img_size=(96, 96, 96))                  # doctest: +SKIP
    >>> DiffusionConfig.preset("tiny")                                        # doctest: +SKIP
    >>> ReconUNetConfig(features=UNET_FEATURES["tiny"])                       # doctest: +SKIP
"""

# The masked autoencoder of the ASL chapters (`MAEConfig.preset`): ViT encoder and transformer decoder. As in the
# MAE paper the decoder is light beside the encoder, so masking 75 % of the patches cuts a step's FLOPs to 0.29-0.31
# of a plain autoencoder's ("small" and "base" at 96^3; `benchmarks/bench_mae.py`).
MAE_PRESETS = {
    # CPU smoke and reference runs: 64^3 at patch 16 is 64 patches, a training step takes hundredths of a second.
    # Masking 0.75 costs 0.53 of a plain autoencoder's FLOPs and 0.54-0.60 of its CPU step: a 16^3 patch is 4,096
    # voxels, embedded and predicted from 96 numbers, which outweighs the 2-block encoder. Measured alternatives
    # (`bench_mae.py --config tiny --set ...`; `bench_mae_decoder.py --preset tiny`, 1500 steps, seeds 0-1): a
    # decoder 48 or 24 wide steps at 0.54 or 0.51 and predicts the hidden patches worse; an encoder 384 wide meets
    # 0.4 (0.38) at the same error, but its step over every patch (as fine-tuning runs it) costs 3.4x tiny's. The
    # reference ASL record and its shipped MAE were trained at this size.
    "tiny": dict(patch_size=16, hidden_size=96, mlp_dim=384, num_layers=2, num_heads=4,
                 decoder_hidden_size=96, decoder_mlp_dim=384, decoder_num_layers=1, decoder_num_heads=4),
    # One T4 (colab profile) at 96^3: ViT-Tiny width; the decoder a quarter of it (48 wide, 2 blocks; 96 wide before
    # issue 19). Its hidden-patch MSE is 2-3 % higher (0.242-0.244 against 0.237 at 64^3, 600 steps, seeds 0-1;
    # `benchmarks/bench_mae_decoder.py`); 72 wide lies between (0.239-0.240), but its FLOP ratio, 0.35, leaves no
    # margin to the 0.4 step-time goal on a CPU.
    "small": dict(patch_size=16, hidden_size=192, mlp_dim=768, num_layers=4, num_heads=3,
                  decoder_hidden_size=48, decoder_mlp_dim=192, decoder_num_layers=2, decoder_num_heads=4),
    # GPU server (full profile): ViT-B encoder, MONAI's default decoder (384 wide, 4 blocks).
    "base": dict(patch_size=16, hidden_size=768, mlp_dim=3072, num_layers=12, num_heads=12,
                 decoder_hidden_size=384, decoder_mlp_dim=1536, decoder_num_layers=4, decoder_num_heads=12),
}

# The ViT backbone every pretraining method of chapters 6-7 shares (`EncoderConfig.preset`,
# ``Profile.contrastive_encoder``).
ENCODER_PRESETS = {
    # CPU smoke runs at 32^3: 64 patches of 8^3, a step of 8 pairs takes a fraction of a second.
    "tiny": dict(patch_size=8, hidden_size=96, mlp_dim=384, num_layers=2, num_heads=4),
    # One T4 (colab) at 96^3: ViT-Tiny width, as the MAE "small" preset.
    "small": dict(patch_size=16, hidden_size=192, mlp_dim=768, num_layers=4, num_heads=3),
    # GPU server (full): Chalcroft et al.'s ViT-B (patch 16, 768 wide, 12 layers, 12 heads).
    "base": dict(patch_size=16, hidden_size=768, mlp_dim=3072, num_layers=12, num_heads=12),
}

# The diffusion prior's U-Net of chapter 8 (`DiffusionConfig.preset`).
DIFFUSION_PRESETS = {
    # CPU smoke runs at 32-64^2 (70k parameters): a training step takes about 0.1 s on 2 cores, no attention.
    "tiny": dict(channels=(8, 16, 16), attention_levels=(False, False, False), num_res_blocks=1,
                 norm_num_groups=4),
    # One T4 (colab profile) at 128^2: the size the MONAI 2D DDPM tutorials use, attention at the lowest level.
    "small": dict(channels=(32, 64, 64), attention_levels=(False, False, True), num_res_blocks=2,
                  norm_num_groups=16),
    # GPU server (full profile) at 256-320^2: four levels, attention at the two lowest.
    "base": dict(channels=(64, 128, 256, 256), attention_levels=(False, False, True, True), num_res_blocks=2,
                 norm_num_groups=32),
}

# The supervised reconstruction U-Net of chapter 8 (``ReconUNetConfig.features``: BasicUNet's six channel counts),
# sized like the diffusion preset of the same name.
UNET_FEATURES = {"tiny": (8, 8, 16, 32, 64, 8), "small": (32, 32, 64, 128, 256, 32),
                 "base": (64, 64, 128, 256, 512, 64)}
