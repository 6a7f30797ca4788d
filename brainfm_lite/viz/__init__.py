"""Figures: slices and montages, sliders, and the plots of each chapter (signal curves, ASL, MAE, contrastive
learning, the method comparison, reconstruction). Each function returns its figure.

Every name below is importable from ``brainfm_lite.viz``; each loads its module (and matplotlib) only when first
used, so ``import brainfm_lite.viz`` is instant.
"""

from typing import TYPE_CHECKING

from brainfm_lite._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers and editors read these; at run time each name loads on first use
    from brainfm_lite.viz.asl_plots import (
        plot_by_site,
        plot_cbf_row,
        plot_kinetic_curves,
        plot_metric_vs_fraction,
        plot_qei_sweeps,
    )
    from brainfm_lite.viz.comparison_plots import (
        TEST_TITLES,
        TISSUE_CLASSES,
        plot_dense_scores,
        plot_feature_distances,
        plot_tissue_segmentation,
    )
    from brainfm_lite.viz.contrastive_plots import (
        TEST_STYLES,
        plot_embedding_by_site_and_age,
        plot_nearest_neighbours,
        plot_similarity_matrix,
        plot_structural_scores,
        plot_views,
    )
    from brainfm_lite.viz.mae_plots import (
        DIAGNOSIS_MARKERS,
        diagnosis_names,
        plot_embedding,
        plot_loss_curve,
        plot_mae_reconstructions,
    )
    from brainfm_lite.viz.plots import (
        MAP_LABELS,
        SWEEPABLE,
        TISSUE_COLOURS,
        plot_qmri_maps,
        plot_signal_curves,
        sequence_label,
    )
    from brainfm_lite.viz.recon_plots import plot_kspace_and_aliasing, plot_recon_grid, plot_sweep, plot_trajectory
    from brainfm_lite.viz.slices import (
        AXES,
        PAGE_WIDTH_IN,
        SIDES,
        display_slice,
        intensity_limits,
        mark_sides,
        plot_before_after,
        plot_montage,
        plot_orthogonal,
    )
    from brainfm_lite.viz.widgets import sequence_explorer, slice_browser

__all__ = [
    "AXES", "DIAGNOSIS_MARKERS", "MAP_LABELS", "PAGE_WIDTH_IN", "SIDES", "SWEEPABLE", "TEST_STYLES", "TEST_TITLES",
    "TISSUE_CLASSES", "TISSUE_COLOURS", "diagnosis_names", "display_slice", "intensity_limits", "mark_sides",
    "plot_before_after", "plot_by_site", "plot_cbf_row", "plot_dense_scores", "plot_embedding",
    "plot_embedding_by_site_and_age", "plot_feature_distances", "plot_kinetic_curves", "plot_kspace_and_aliasing",
    "plot_loss_curve", "plot_mae_reconstructions", "plot_metric_vs_fraction", "plot_montage", "plot_nearest_neighbours",
    "plot_orthogonal", "plot_qei_sweeps", "plot_qmri_maps", "plot_recon_grid", "plot_signal_curves",
    "plot_similarity_matrix", "plot_structural_scores", "plot_sweep", "plot_tissue_segmentation", "plot_trajectory",
    "plot_views", "sequence_explorer", "sequence_label", "slice_browser",
]
__getattr__, __dir__ = lazy_exports(__name__, __file__)
