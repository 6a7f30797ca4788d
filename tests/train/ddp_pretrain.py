"""The script each process runs in test_distributed.py's two-process pretraining test (launched by torchrun).

Two processes pretrain SimCLR for two steps on a pool of three structural subjects, filling one cache folder
together, then the MAE (a MONAI ViT) from that cache. Each writes the subjects it simulated to
``simulated_rank{R}.json`` under ``--out``; the run folders are ``--out/run`` and ``--out/run_mae``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.structural import StructuralDataset
from brainfm_lite.train.pretrain import pretrain_mae_structural, pretrain_simclr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    simulated = []
    simulate = StructuralDataset.simulate

    def counted(self, index):
        simulated.append(int(index))
        return simulate(self, index)

    StructuralDataset.simulate = counted
    # a pool of 3 subjects; 1 a process a step, so that each process gets a full batch
    profile = load_profile("smoke", contrastive_subjects=8, n_sites=2, contrastive_batch_size=1)
    pretrain_simclr(profile, args.out / "run", max_steps=2, log_every=1, progress=False)
    # a MONAI ViT under DDP: every trainable parameter must take part in the loss (from the cache filled above)
    pretrain_mae_structural(profile, args.out / "run_mae", cache_dir=args.out / "run/t1_cache", max_steps=2,
                            progress=False)
    rank = int(os.environ["RANK"])
    (args.out / f"simulated_rank{rank}.json").write_text(json.dumps(simulated))


if __name__ == "__main__":
    main()
