"""Choose the implicit model's settings and EASE's lambda on the validation part (make tune).

Every candidate is trained on the training part of ``train_val_test_split``
and scored with ``reco.evaluate`` on its validation part (``part="val"``);
the test part is never read. The best setting by validation NDCG@10 becomes
the course default (``reco.implicit.IMPLICIT_DEFAULTS`` and the defaults of
``reco.implicit.build_implicit_mf``; ``reco.baselines.EASE``'s ``lam``), and notebook 08 retrains it once on
the course split's training part for the single test score.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from reco import baselines, data, evaluate, implicit, split, train

#: The candidates, as (label, builder keyword arguments, TrainConfig, loss).
GRID = [
    (f"{loss} f{f} d{d} lr{lr:g} b{b} e{e}", {"n_factors": f, "dropout": d},
     train.TrainConfig(batch_size=b, epochs=e, lr=lr, steps_per_execution=4), loss)
    for loss, f, d, lr, b, e in [
        ("multinomial", 64, 0.5, 3e-3, 32, 60),
        ("multinomial", 128, 0.5, 3e-3, 32, 60),
        ("multinomial", 128, 0.7, 3e-3, 32, 60),
        ("multinomial", 128, 0.5, 1e-2, 64, 40),
        ("multinomial", 256, 0.7, 3e-3, 32, 60),
        ("multinomial", 128, 0.5, 1e-3, 32, 120),
        ("logistic", 128, 0.5, 3e-3, 32, 60),
        ("multinomial", 256, 0.7, 3e-3, 64, 60),
        ("multinomial", 256, 0.7, 3e-3, 32, 40),
        ("multinomial", 256, 0.8, 3e-3, 32, 60),
        ("multinomial", 512, 0.8, 3e-3, 64, 60),
        ("logistic", 256, 0.7, 3e-3, 32, 60),
        ("multinomial", 256, 0.7, 3e-3, 128, 60),
        ("multinomial", 256, 0.7, 3e-3, 128, 100),
        ("multinomial", 256, 0.7, 1e-2, 128, 60),
    ]
]  # fmt: skip

#: EASE's lambda grid.
LAMBDAS = (50, 100, 200, 400)


def _val_scores(model, three_way) -> dict:
    recs = evaluate.top_k(model, three_way, part="val")
    scores = evaluate.ranking_metrics(recs, three_way, part="val")
    return {k: scores[k] for k in ("ndcg", "recall", "precision", "coverage")}


def main(argv=None) -> pd.DataFrame:
    """Print the validation table of every candidate, best first."""
    parser = argparse.ArgumentParser(
        prog="tools/tune_implicit.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", choices=("implicit", "ease"))
    parser.add_argument("--pick", type=int, nargs="+", help="only these candidates (0-based)")
    args = parser.parse_args(argv)
    encoded, encoder = split.encode_ids(data.load_ratings())
    three_way = split.train_val_test_split(encoded)
    rows = []
    if args.only != "ease":
        picked = [GRID[i] for i in args.pick] if args.pick else GRID
        for label, kwargs, config, loss in picked:
            train.set_seed()
            model = implicit.build_implicit_mf(encoder, **kwargs)
            history = train.fit(model, three_way, config=config, loss=loss)
            row = {"model": label, **_val_scores(model, three_way)}
            row["seconds"] = history.attrs["train_seconds"]
            rows.append(row)
            print(row, flush=True)
    if args.only != "implicit":
        for lam in LAMBDAS:
            start = time.perf_counter()
            model = baselines.EASE(lam).fit(three_way)
            row = {"model": f"EASE lambda={lam}", **_val_scores(model, three_way)}
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows).sort_values("ndcg", ascending=False)
    print("\nValidation part of train_val_test_split (k=10), best first:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return table


if __name__ == "__main__":
    main()
