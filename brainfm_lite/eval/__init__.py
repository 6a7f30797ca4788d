"""Evaluation: metrics (fastMRI conventions), site splits, regional-CBF baselines, linear probes and fine-tuning,
dense tasks (segmentation, denoising), feature distances, reconstruction experiments, the method comparison, and
the reports and tables the chapters print.

Every name below is importable from ``brainfm_lite.eval``; each loads its module (and torch, MONAI, scikit-learn)
only when first used, so ``import brainfm_lite.eval`` is instant and cannot start an import cycle.
"""

from typing import TYPE_CHECKING

from brainfm_lite._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers and editors read these; at run time each name loads on first use
    from brainfm_lite.eval.asl_claim_rules import (
        CLAIM_TASKS,
        VERDICTS,
        asl_claims,
        beats_claim,
        claim_mode,
        claim_verdict,
        generalisation_claim,
        site_gap,
        wins_by_seed_sd,
    )
    from brainfm_lite.eval.asl_evaluation import FRACTIONS, evaluate_asl, regional_baseline_rows
    from brainfm_lite.eval.baselines import (
        CLASSIFICATION_TASKS,
        REGRESSION_TASKS,
        TEST_SETS,
        asl_baseline_table,
        asymmetry_features,
        logistic_baseline,
        regional_features,
        ridge_baseline,
    )
    from brainfm_lite.eval.comparison import (
        COMPARISON_METHODS,
        PRETRAINING,
        compare_methods,
        encoder_factory,
        gains_over_scratch,
        pretrain_method,
        save_json,
    )
    from brainfm_lite.eval.dense import (
        DENOISE_SIGMA,
        DENSE_FRACTIONS,
        DENSE_METRICS,
        DENSE_TASKS,
        TISSUE_NAMES,
        DenseDataset,
        DenseSplit,
        check_task,
        dense_dataset,
        dense_split,
        dense_train_config,
        evaluate_dense,
        score_dense,
        segment,
        summarise_dense,
        train_dense,
    )
    from brainfm_lite.eval.feature_distance import (
        contrast_images,
        contrast_subject_distances,
        cosine_distances,
        encode_contrasts,
        nearest_neighbours,
        neighbour_summary,
    )
    from brainfm_lite.eval.hidden_patches import errors_on_hidden, hidden_patch_errors, masked_reconstruction
    from brainfm_lite.eval.metrics import auc, balanced_accuracy, dice, hd95, mae, nmse, pearson_r, psnr, ssim
    from brainfm_lite.eval.probe import (
        METRICS,
        MODES,
        TASKS,
        SupervisedObjective,
        evaluate_encoder,
        extract_features,
        finetune,
        label_subset,
        linear_probe,
        score,
        summarise,
        task_kind,
    )
    from brainfm_lite.eval.recon import (
        CONSISTENCIES,
        DDIM_ETA,
        SAMPLERS,
        ConsistentDDIMScheduler,
        KspaceProjector,
        Reconstruction,
        make_sampler,
        project_kspace,
        reconstruct,
    )
    from brainfm_lite.eval.recon_experiments import (
        ACCELERATIONS,
        CENTER_FRACTION,
        FIGURES_FILE,
        KSPACE_NOISE_STD,
        N_EXAMPLES,
        N_SNAPSHOTS,
        RECON_METHODS,
        RESULTS_FILE,
        SWEEP_ACCELERATION,
        Acquisition,
        new_supervised_unet,
        over_seeds,
        reconstruct_with,
        run_recon_experiments,
        run_sweep,
        score_volumes,
        select_test_volumes,
        simulate_test_acquisitions,
        supervised_unet_train_config,
        test_acquisitions,
        train_models,
        train_supervised_unet,
    )
    from brainfm_lite.eval.recon_report import psnr_by_method, recon_findings, recon_markdown, samplers_markdown
    from brainfm_lite.eval.recon_results import (
        COMPARABLE_DB,
        DDIM_STEPS,
        PRIOR_WEIGHTS,
        RECON_RESULTS_NAME,
        SAMPLER_SLICES,
        SPREAD_METHODS,
        STARTED_FILE,
        compare_samplers,
        load_recon_results,
        recon_claims,
        recon_reference_results,
        recon_results_path,
        sampling_spread,
        shipped_prior_at_work,
    )
    from brainfm_lite.eval.reference_results import (
        ASL_ENCODERS,
        HIDDEN_PATCH_MAPS,
        FinetuneGrid,
        asl_reference_results,
        asl_results_path,
        hidden_patch_check,
        load_recorded_results,
    )
    from brainfm_lite.eval.results_run import (
        CONTRASTIVE_OBJECTIVES,
        RUN_PROVENANCE,
        cached_part,
        earlier_provenance,
        finished_pretraining,
        last_logged,
        pretraining_summary,
        record_provenance,
        run_provenance,
        stage,
    )
    from brainfm_lite.eval.results_table import (
        TESTS,
        baseline_markdown,
        claims_markdown,
        headline,
        headline_metric,
        recorded_by,
        results_markdown,
    )
    from brainfm_lite.eval.segmentation import (
        LESION_LABEL_MAP,
        SLIDING_WINDOW_OVERLAP,
        TISSUE_LABEL_MAP,
        DenoisingObjective,
        SegmentationObjective,
        predict_labels,
        random_window,
        sliding_window_predict,
    )
    from brainfm_lite.eval.seqinv_report import (
        dense_markdown,
        dense_metric,
        dense_score,
        lowest_fraction,
        seqinv_findings,
        seqinv_key_numbers,
    )
    from brainfm_lite.eval.splits import SiteSplit, evaluation_split, pretraining_pool, site_splits
    from brainfm_lite.eval.structural import (
        STRUCTURAL_CLASSIFICATION_TASKS,
        STRUCTURAL_FRACTIONS,
        evaluate_structural,
        structural_splits,
    )
    from brainfm_lite.eval.structural_claim_rules import (
        NEAR_MATCH,
        beats_all_claim,
        classification_mean_sd,
        dense_mean_sd,
        nearly_matches,
        seqinv_claims,
        simclr_claims,
        structural_claims,
    )
    from brainfm_lite.eval.structural_report import distances_markdown, pretraining_markdown
    from brainfm_lite.eval.structural_results import (
        DISTANCE_KINDS,
        DISTANCE_SUBJECTS,
        SEGMENTER_ENCODER,
        SEGMENTER_NAME,
        STRUCTURAL_METHODS,
        SWEEP_TASK,
        StructuralGrid,
        distance_images,
        distance_subjects,
        load_recorded_structural_results,
        shipped_encoder_check,
        structural_reference_results,
        structural_results_path,
    )

__all__ = [
    "ACCELERATIONS", "ASL_ENCODERS", "Acquisition", "CENTER_FRACTION", "CLAIM_TASKS", "CLASSIFICATION_TASKS",
    "COMPARABLE_DB", "COMPARISON_METHODS", "CONSISTENCIES", "CONTRASTIVE_OBJECTIVES", "ConsistentDDIMScheduler",
    "DDIM_ETA", "DDIM_STEPS", "DENOISE_SIGMA", "DENSE_FRACTIONS", "DENSE_METRICS", "DENSE_TASKS", "DISTANCE_KINDS",
    "DISTANCE_SUBJECTS", "DenoisingObjective", "DenseDataset", "DenseSplit", "FIGURES_FILE", "FRACTIONS",
    "FinetuneGrid", "HIDDEN_PATCH_MAPS", "KSPACE_NOISE_STD", "KspaceProjector", "LESION_LABEL_MAP", "METRICS", "MODES",
    "NEAR_MATCH", "N_EXAMPLES", "N_SNAPSHOTS", "PRETRAINING", "PRIOR_WEIGHTS", "RECON_METHODS", "RECON_RESULTS_NAME",
    "REGRESSION_TASKS", "RESULTS_FILE", "RUN_PROVENANCE", "Reconstruction", "SAMPLERS", "SAMPLER_SLICES",
    "SEGMENTER_ENCODER", "SEGMENTER_NAME", "SLIDING_WINDOW_OVERLAP", "SPREAD_METHODS", "STARTED_FILE",
    "STRUCTURAL_CLASSIFICATION_TASKS", "STRUCTURAL_FRACTIONS", "STRUCTURAL_METHODS", "SWEEP_ACCELERATION", "SWEEP_TASK",
    "SegmentationObjective", "SiteSplit", "StructuralGrid", "SupervisedObjective", "TASKS", "TESTS", "TEST_SETS",
    "TISSUE_LABEL_MAP", "TISSUE_NAMES", "VERDICTS", "asl_baseline_table", "asl_claims", "asl_reference_results",
    "asl_results_path", "asymmetry_features", "auc", "balanced_accuracy", "baseline_markdown", "beats_all_claim",
    "beats_claim", "cached_part", "check_task", "claim_mode", "claim_verdict", "claims_markdown",
    "classification_mean_sd", "compare_methods", "compare_samplers", "contrast_images", "contrast_subject_distances",
    "cosine_distances", "dense_dataset", "dense_markdown", "dense_mean_sd", "dense_metric", "dense_score",
    "dense_split", "dense_train_config", "dice", "distance_images", "distance_subjects", "distances_markdown",
    "earlier_provenance", "encode_contrasts", "encoder_factory", "errors_on_hidden", "evaluate_asl", "evaluate_dense",
    "evaluate_encoder", "evaluate_structural", "evaluation_split", "extract_features", "finetune",
    "finished_pretraining", "gains_over_scratch", "generalisation_claim", "hd95", "headline", "headline_metric",
    "hidden_patch_check", "hidden_patch_errors", "label_subset", "last_logged", "linear_probe", "load_recon_results",
    "load_recorded_results", "load_recorded_structural_results", "logistic_baseline", "lowest_fraction", "mae",
    "make_sampler", "masked_reconstruction", "nearest_neighbours", "nearly_matches", "neighbour_summary",
    "new_supervised_unet", "nmse", "over_seeds", "pearson_r", "predict_labels", "pretrain_method",
    "pretraining_markdown", "pretraining_pool", "pretraining_summary", "project_kspace", "psnr", "psnr_by_method",
    "random_window", "recon_claims", "recon_findings", "recon_markdown", "recon_reference_results",
    "recon_results_path", "reconstruct", "reconstruct_with", "record_provenance", "recorded_by",
    "regional_baseline_rows", "regional_features", "results_markdown", "ridge_baseline", "run_provenance",
    "run_recon_experiments", "run_sweep", "samplers_markdown", "sampling_spread", "save_json", "score", "score_dense",
    "score_volumes", "segment", "select_test_volumes", "seqinv_claims", "seqinv_findings", "seqinv_key_numbers",
    "shipped_encoder_check", "shipped_prior_at_work", "simclr_claims", "simulate_test_acquisitions", "site_gap",
    "site_splits", "sliding_window_predict", "ssim", "stage", "structural_claims", "structural_reference_results",
    "structural_results_path", "structural_splits", "summarise", "summarise_dense", "supervised_unet_train_config",
    "task_kind", "test_acquisitions", "train_dense", "train_models", "train_supervised_unet", "wins_by_seed_sd",
]
__getattr__, __dir__ = lazy_exports(__name__, __file__)
