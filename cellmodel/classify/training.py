"""Training the refinement: pseudo-labels, the SupCon loop, and the label-free-of-test-cells
stopping search that picks the epoch count and the self-training mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch

from cellmodel.classify.knn import Scaler, knn_votes
from cellmodel.classify.labels import first_cells, first_seen
from cellmodel.classify.model import RefineNet, supcon_loss
from cellmodel.classify.options import (
    DEFAULT_K,
    ClassifyOptions,
    ViewBuilder,
    resolve_vote,
)
from cellmodel.module.model import deterministic
from genekb.device import resolve_device
from genekb.errors import UsageError
from genekb.progress import active_stage_hook

# The stage the epochs of each training run report, named by its net: a search trains several,
# each from epoch 1 and most stopping early, so a bare "1/300" read as one count that restarted.
REFINE_STAGE = "classify: contrastive refinement"
FINAL_NET = f"{REFINE_STAGE}: epochs of the final net"


def search_stage(net: int, nets: int, early: bool) -> str:
    """The stage of search net `net` (from 1) of `nets`; `early`: it may stop before its last."""
    return f"{REFINE_STAGE}: epochs of search net {net}/{nets}" + (
        " (at most; it stops early)" if early else ""
    )


@dataclass
class _TrainData:
    X: torch.Tensor  # labelled (and pseudo-labelled) cells, scaled
    codes: torch.Tensor  # class codes 0..C-1
    cell_weights: torch.Tensor  # 1 for labelled cells, `pseudo_weight` for pseudo-labelled ones


def _training_data(
    X: np.ndarray, codes: np.ndarray, pool: np.ndarray, k: int, opts: ClassifyOptions
) -> tuple[_TrainData, int]:
    """The labelled cells, plus the unlabelled cells of `pool` that the unrefined kNN assigns
    with a vote share of at least `pseudo_threshold` (self-training); also their number."""
    Xs, cs, ws = [X], [codes], [np.ones(len(X), dtype=np.float32)]
    n_pseudo = 0
    if opts.self_training != "off" and len(pool):
        classes, shares = knn_votes(
            X,
            codes,
            pool,
            k,
            weighting=opts.knn_weighting,
            temperature=opts.temperature,
            vote=opts.vote,
        )
        ordered = np.sort(shares, axis=1)
        share = ordered[:, -1]
        margin = share - (ordered[:, -2] if shares.shape[1] > 1 else 0.0)
        sure = share >= opts.pseudo_threshold
        n_pseudo = int(sure.sum())
        Xs.append(pool[sure])
        cs.append(classes[shares.argmax(axis=1)][sure].astype(np.int64))
        weight = margin[sure] if opts.pseudo_margin else np.ones(n_pseudo)
        ws.append((opts.pseudo_weight * weight).astype(np.float32))
    data = _TrainData(
        X=torch.from_numpy(np.concatenate(Xs)),
        codes=torch.from_numpy(np.concatenate(cs)),
        cell_weights=torch.from_numpy(np.concatenate(ws)),
    )
    return data, n_pseudo


def _augment(x: torch.Tensor, opts: ClassifyOptions, generator: torch.Generator) -> torch.Tensor:
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= opts.feature_dropout
    noise = torch.randn(x.shape, generator=generator, device=x.device) * opts.noise
    return x * keep + noise


def _batches(n: int, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return list(order.split(size)) if n > size else [order]


def _train(
    data: _TrainData,
    epochs: int,
    opts: ClassifyOptions,
    seed: int,
    device: torch.device,
    check: Any = None,
    stage: str = FINAL_NET,
) -> tuple[RefineNet, list[tuple[int, float]]]:
    """Train a fresh net for `epochs`; `check(net)` (if given) is called every `eval_every` epochs
    and returns (score, stop). Its epochs are reported under `stage`."""
    torch.manual_seed(seed)
    net = RefineNet(data.X.shape[1], opts.hidden_dim, opts.out_dim, opts.residual).to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    n_classes = int(data.codes.max()) + 1
    history: list[tuple[int, float]] = []
    if check is not None:
        value, _ = check(net, 0)
        history.append((0, value))
    report = active_stage_hook()  # bars in Python, lines on the command line
    for epoch in range(1, epochs + 1):
        if report is not None:
            report(stage, epoch, epochs)
        net.train()
        for batch in _batches(data.X.shape[0], opts.batch_size, generator):
            x = data.X[batch]
            codes = data.codes[batch]
            counts = torch.bincount(codes, minlength=n_classes).float()
            weights = 1.0 / counts[codes] if opts.balance else torch.ones(len(codes))
            weights = weights * data.cell_weights[batch]
            views = torch.cat([_augment(x, opts, generator), _augment(x, opts, generator)])
            loss = supcon_loss(
                net(views.to(device)),
                torch.cat([codes, codes]).to(device),
                torch.cat([weights, weights]).to(device),
                opts.temperature,
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if check is not None and epoch % opts.eval_every == 0:
            value, stop = check(net, epoch)
            history.append((epoch, value))
            if stop:
                break
    return net, history


def _embed(net: RefineNet, X: np.ndarray, device: torch.device) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for chunk in np.array_split(X, max(1, len(X) // 8192 + 1)):
            out.append(net(torch.from_numpy(chunk).to(device)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def _stopping_split(codes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mask of training cells held out for stopping: floor(fraction × size) per class."""
    sizes = dict(zip(*np.unique(codes, return_counts=True), strict=True))
    return first_cells(codes, {c: int(np.floor(fraction * n)) for c, n in sizes.items()}, seed + 1)


def _search(
    X: np.ndarray,
    codes: np.ndarray,
    unlabelled: np.ndarray,
    k: int,
    opts: ClassifyOptions,
    seed: int,
    device: torch.device,
    fixed_epochs: int | None,
    repeat: int = 0,
    rebuild: ViewBuilder | None = None,
    nets: tuple[int, int] = (0, 1),
) -> dict[str, Any] | None:
    """Train on part of the training cells and score kNN on the held-out rest.

    Scores every `eval_every` epochs (and epoch 0) and stops after `patience` checks without
    improvement, keeping the best epoch; with `fixed_epochs`, scores that epoch only. A score is
    (accuracy, mean vote share of the true class): ties in accuracy, common with a few dozen
    held-out cells, go to the same answers given with a clearer margin. None when too few labels
    can be held out. Every class keeps a fitting cell (floor(fraction × size) < size), so the
    codes of the fitting cells are those of all training cells.
    `rebuild(fit)`: the view rebuilt from the fitting cells' labels alone (the marker block);
    without it, held-out cells whose own labels chose the markers would judge the search, and
    their checks would look better than the test cells will ever score.
    `nets`: (the search's nets trained before this mode's, all its nets), for the progress line.
    """
    stage = search_stage(nets[0] + repeat + 1, nets[1], fixed_epochs is None)
    held = _stopping_split(codes, opts.holdout_fraction, seed + 1000 * repeat)
    fit = ~held
    if held.sum() < 2:
        return None
    if rebuild is not None:
        train_view, query_view = rebuild(fit)
        scaler = Scaler.fit(train_view)
        X, unlabelled = scaler.apply(train_view), scaler.apply(query_view)
    # Held-out training cells are unlabelled during the search, as the test cells will be.
    data, _ = _training_data(X[fit], codes[fit], np.concatenate([unlabelled, X[held]]), k, opts)
    best: dict[str, Any] = {"epoch": 0, "value": (-1.0, -1.0), "since": 0}
    truth = codes[held].astype(str)

    def check(net: RefineNet, epoch: int) -> tuple[float, bool]:
        if fixed_epochs is not None and epoch != fixed_epochs:
            return float("nan"), False
        classes, shares = knn_votes(
            _embed(net, X[fit], device),
            codes[fit],
            _embed(net, X[held], device),
            k,
            weighting=opts.knn_weighting,
            temperature=opts.temperature,
            vote=opts.vote,
        )
        accuracy = float(np.mean(classes[shares.argmax(axis=1)] == truth))
        column = {c: i for i, c in enumerate(classes)}
        true_share = np.array(
            [shares[i, column[t]] if t in column else 0.0 for i, t in enumerate(truth)]
        )
        value = (accuracy, float(true_share.mean()))
        if value > best["value"]:
            best.update(epoch=epoch, value=value, since=0)
        else:
            best["since"] += 1
        return accuracy, best["since"] >= opts.patience

    if fixed_epochs is None:
        _, history = _train(data, opts.max_epochs, opts, seed, device, check, stage)
    else:
        # One check, after the last epoch.
        search_opts = replace(opts, eval_every=max(fixed_epochs, 1))
        _, history = _train(data, fixed_epochs, search_opts, seed, device, check, stage)
    return {
        "epochs": int(best["epoch"]),
        "n_held_out": int(held.sum()),
        "value": best["value"],
        "history": [[e, round(v, 4)] for e, v in history if v == v],  # drop unscored (NaN)
    }


def _repeated_search(
    search: Callable[[int], dict[str, Any] | None], repeats: int
) -> dict[str, Any] | None:
    """`search(repeat)` (a `_search` on held-out split number `repeat`) for each of `repeats`
    splits: the median of their best epochs and the mean of their best scores (one held-out split
    of a few dozen cells is a noisy judge)."""
    found = [result for repeat in range(repeats) if (result := search(repeat))]
    if len(found) <= 1:
        return found[0] if found else None
    return {
        "epochs": int(np.median([r["epochs"] for r in found])),
        "n_held_out": found[0]["n_held_out"],
        "value": tuple(float(v) for v in np.mean([r["value"] for r in found], axis=0)),
        "history": found[0]["history"],
        "repeat_epochs": [r["epochs"] for r in found],
    }


def _choose_mode(values: dict[str, tuple[float, float]]) -> str:
    """The self-training mode whose search scored best: held-out accuracy decides, a tie goes to
    "on". The true-class share (the second value) breaks ties between epochs of one mode only: a
    net fitted to the labelled cells alone votes more sharply for them, so its share is not
    comparable with the pseudo-labelled net's."""
    return max(values, key=lambda mode: (values[mode][0], mode == "on"))


def refine(
    train_X: np.ndarray,
    train_labels: np.ndarray,
    query_X: np.ndarray,
    *,
    k: int = DEFAULT_K,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    options: ClassifyOptions | None = None,
    rebuild: ViewBuilder | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Train the projection on the labelled cells; return (refined train, refined query, record).

    `epochs=None` picks the epoch count on held-out training labels; an integer fixes it. With
    `self_training="auto"`, the same held-out cells decide whether pseudo-labels are used.
    `rebuild`: when the view itself was built from the training labels (the marker block), a
    function that rebuilds it from a subset of them (a mask over the training cells), so the
    held-out cells of the search never chose its features.
    """
    opts = resolve_vote(options or ClassifyOptions(), "classify")
    opts.check()
    if epochs is not None and epochs < 0:
        raise UsageError(f"epochs must be at least 0 (got {epochs})")
    chosen_device = torch.device(resolve_device(device))
    scaler = Scaler.fit(train_X)
    Xs, Qs = scaler.apply(train_X), scaler.apply(query_X)
    codes = first_seen(train_labels)[1]
    modes = ["on", "off"] if opts.self_training == "auto" else [opts.self_training]
    record: dict[str, Any] = {"self_training": opts.self_training}
    with deterministic(seed):
        if epochs is not None and len(modes) == 1:
            chosen, record["epochs"], record["rule"] = modes[0], epochs, "given"
        else:
            searches = {
                mode: _repeated_search(
                    partial(
                        _search,
                        Xs,
                        codes,
                        Qs,
                        k,
                        replace(opts, self_training=mode),
                        seed,
                        chosen_device,
                        epochs,
                        rebuild=rebuild,
                        nets=(i * opts.search_repeats, len(modes) * opts.search_repeats),
                    ),
                    opts.search_repeats,
                )
                for i, mode in enumerate(modes)
            }
            found = {mode: found for mode, found in searches.items() if found is not None}
            if not found:
                # Too few labels to hold any out: no pseudo-labels from so weak a kNN.
                chosen, record["rule"] = "off", "fallback (too few labels to hold out)"
                record["epochs"] = opts.fallback_epochs if epochs is None else epochs
            else:
                chosen = _choose_mode({mode: result["value"] for mode, result in found.items()})
                record["epochs"] = found[chosen]["epochs"]
                record["rule"] = "best held-out kNN on training labels"
                record["search"] = {
                    mode: {
                        "epochs": result["epochs"],
                        "held_out_accuracy": round(result["value"][0], 4),
                        "held_out_true_share": round(result["value"][1], 4),
                        "n_held_out": result["n_held_out"],
                        "history": result["history"],
                        **{key: result[key] for key in ("repeat_epochs",) if key in result},
                    }
                    for mode, result in found.items()
                }
        final = replace(opts, self_training=chosen)
        data, n_pseudo = _training_data(Xs, codes, Qs, k, final)
        net, _ = _train(data, record["epochs"], final, seed, chosen_device)
        refined_train = _embed(net, Xs, chosen_device)
        refined_query = _embed(net, Qs, chosen_device)
    record.update(self_training_used=chosen, n_pseudo_labelled=n_pseudo, device=str(chosen_device))
    return refined_train, refined_query, record
