"""Chapters 6-7's tables of a recorded structural-results JSON: every method's pretraining against chance, and the
anatomy-versus-contrast distances ranked."""

from brainfm_lite.eval.structural_report import distances_markdown, pretraining_markdown

PRETRAINING = {
    "simclr": {"objective": "simclr", "steps": 500, "last_loss": 1.2, "chance_loss": 2.7081, "positive_similarity": 0.8,
               "negative_similarity": 0.1, "embedding_std": 0.09, "even_spread_std": 0.125, "collapsed": False},
    "seqinv": {"objective": "seqinv", "steps": 500, "last_loss": 3.0, "contrastive": 2.70, "chance_loss": 2.7081,
               "positive_similarity": 0.99, "negative_similarity": 0.99, "embedding_std": 0.002,
               "even_spread_std": 0.125, "collapsed": True},
    "mae": {"objective": "mae", "steps": 500, "last_loss": 0.4},
}


def rows(markdown: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.splitlines()[2:]]


def test_pretraining_shows_each_contrastive_loss_against_chance_and_flags_collapse():
    table = rows(pretraining_markdown(PRETRAINING))
    simclr, seqinv, mae = table
    assert simclr == ["SimCLR", "500", "1.200", "1.200 (2.708)", "0.80 / 0.10", "0.090 (0.125)", "no"]
    # SeqInv's loss adds its reconstruction term: the NT-Xent part is what is compared with chance
    assert seqinv[3] == "2.700 (2.708)" and seqinv[-1] == "**yes**"
    assert mae == ["MAE (ViT)", "500", "0.400", "—", "—", "—", "—"]


def test_distances_are_ranked_by_ratio_lowest_first_with_an_undefined_ratio_last():
    distances = {"scratch": {"same_subject": 0.9, "same_contrast": 0.6, "ratio": 1.5},
                 "broken": {"same_subject": 0.0, "same_contrast": 0.0, "ratio": float("nan")},
                 "seqinv": {"same_subject": 0.3, "same_contrast": 0.6, "ratio": 0.5}}
    table = rows(distances_markdown(distances))
    assert [row[0] for row in table] == ["SeqInv", "scratch", "broken"]
    assert table[0] == ["SeqInv", "0.300", "0.600", "0.50"]
