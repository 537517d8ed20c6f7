"""Figures on data exohunt did not make: injections into real light curves, and every real
labelled light curve in ../shared/data.

1. **Search recall** against SNR: the share of injected planets whose period (or single transit)
   the search finds, on exohunt's simulator, on an independent generator written here (power-law
   red noise, trapezoid transits, TESS-like sectors; nothing shared with exohunt's simulator), and
   on injections into real Kepler, K2 and TESS light curves.
2. **Recall at a 1% false-alarm rate** against SNR, for injections into real light curves of
   stars held out from training. The real host stars are split into ``--folds`` groups; each
   group's injections are scored by a model trained on injections into the other groups' stars
   only. A planet counts when the search finds it and its score passes the threshold that 1% of
   the held-out negatives (binaries, artefacts, the stars as they are) pass.
3. **Ranking of every real labelled light curve**: ``real_lightcurves/`` and the Kepler Q17 sample
   and Kepler-90 quarters of ``lightcurves/``, scanned as ``exohunt scan`` does; each curve scored
   by the fold model that did not train on its star. Each star's best score, and each confirmed
   planet against each binary and quiet star. Labels are today's dispositions (truth.csv, and the
   KOI table in ../shared/data for the Kepler sample: its own labels are older).
4. The same with the CNN trained on the real TESS Triage views without the TCEs of any star
   judged here (``--no-cnn`` skips it), scoring the views that scan builds: its recall at a 1%
   false-alarm rate on every fold's held-out injections (it trained on none of them), and its
   ranking of the real curves.

    python bench/realdata.py [--folds 3] [--n-train 2500] [--n-test 1000] [--models xgboost random_forest] [--no-cnn]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = (SHARED / "real_lightcurves", SHARED / "lightcurves")
SNR_BINS = ((5.0, 7.1), (7.1, 10.0), (10.0, 15.0), (15.0, 40.0), (40.0, np.inf))
FALSE_ALARM_RATE = 0.01
PLANET_DISPOSITIONS = ("KOI CONFIRMED", "TFOPWG CP", "TFOPWG KP", "K2 CONFIRMED", "CONFIRMED")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3, help="groups of host stars")
    parser.add_argument("--n-train", type=int, default=2500, help="injections per training set")
    parser.add_argument("--n-test", type=int, default=1000, help="injections per held-out fold")
    parser.add_argument("--n-sim", type=int, default=300, help="curves per simulator (search)")
    parser.add_argument("--models", nargs="+", default=["xgboost", "random_forest"])
    parser.add_argument("--no-cnn", dest="cnn", action="store_false", help="skip the Triage CNN")
    parser.add_argument("--cnn-epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the data, models and tables here")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- labels
def real_labels() -> pd.DataFrame:
    """One row per known signal of every real curve: star_id, name, period, epoch, duration_hours,
    kind (planet, candidate, eb, fp) and the star's label (planet, eb, none, fp, unlabelled)."""
    truth = pd.read_csv(SHARED / "real_lightcurves" / "truth.csv")
    truth["star_id"] = truth["star_id"].astype(str)
    rows = []
    for r in truth.itertuples():
        kind = {"planet": "planet", "eb": "eb"}.get(r.label, r.label)
        if kind == "planet" and r.disposition not in PLANET_DISPOSITIONS:
            kind = "candidate"
        rows.append((r.star_id, r.name, r.period_days, r.epoch, r.duration_hours, kind, r.label))
    koi = pd.read_csv(SHARED / "kepler_koi_cumulative.csv.gz", comment="#", low_memory=False)
    from exohunt.io.stars import iter_stars

    sample = {s.star_id for s in iter_stars(SHARED / "lightcurves")}
    known = {r[0] for r in rows}
    for kepid, group in koi[koi["kepid"].astype(str).isin(sample - known)].groupby("kepid"):
        kinds = []
        for r in group.itertuples():
            if r.koi_disposition == "CONFIRMED":
                kind = "planet"
            elif r.koi_disposition == "CANDIDATE":
                kind = "candidate"
            else:
                kind = "eb" if r.koi_fpflag_ss == 1 else "fp"
            kinds.append(kind)
            name = f"{r.kepoi_name}" + (
                f" ({r.kepler_name})" if isinstance(r.kepler_name, str) else ""
            )
            rows.append([str(kepid), name, r.koi_period, r.koi_time0bk, r.koi_duration, kind, None])
        label = "planet" if "planet" in kinds else "eb" if "eb" in kinds else "fp"
        for row in rows[-len(kinds) :]:
            row[6] = label
    for star in sample - known - set(koi["kepid"].astype(str)):
        rows.append((star, f"KIC {star}", np.nan, np.nan, np.nan, "none", "none"))
    columns = ["star_id", "name", "period", "epoch", "duration_hours", "kind", "label"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- the search
def search_recall_rows(kind: str, n: int, seed: int, hosts=None) -> pd.DataFrame:
    """Injected planets of one generator, with whether the search reports them, choosing among
    the BLS's 5 strongest peaks by red-noise SNR (``found``, exohunt's search) and taking the
    strongest BLS peak as it is (``found_bls_peak``): snr, found, found_bls_peak."""
    from exohunt.lightcurve.inject import inject, scan_signal, transit_snr
    from exohunt.lightcurve.search import SearchSettings

    if kind == "exohunt":
        from exohunt.lightcurve.simulate import simulate

        rows, truth = simulate(n=n, seed=seed, planet_fraction=1.0, eb_fraction=0.0,
                               snr_range=(5.0, 40.0))  # fmt: skip
        curves = [
            (np.asarray(t), np.asarray(f)) for t, f in zip(rows["time"], rows["flux"], strict=True)
        ]
        records = truth.to_dict("records")
    elif kind == "real":
        fractions = {"planet": 1.0, "eb": 0.0, "artefact": 0.0, "none": 0.0}
        rows, truth = inject(hosts, n=n, seed=seed, fractions=fractions, signals=False)
        curves = list(zip(rows["time"], rows["flux"], strict=True))
        records = truth.to_dict("records")
    else:
        curves, records = independent_generator(n, seed)
    out = []
    for (t, f), record in zip(curves, records, strict=True):
        ok = np.isfinite(t) & np.isfinite(f)
        t, f = t[ok], f[ok]
        if kind == "exohunt":  # the SNR as scan measures it, on this curve
            trend = pd.Series(f).rolling(49, center=True, min_periods=5).median().to_numpy()
            sigma, count = transit_snr(t, f / trend, record["period"], record["epoch"],
                                       record["duration_hours"] / 24)  # fmt: skip
            record = {**record, "snr": record["box_depth"] * np.sqrt(count) / sigma}
        signal = scan_signal(t, f, {**record, "kind": "planet"})
        plain = scan_signal(t, f, {**record, "kind": "planet"}, SearchSettings(peaks=1))
        out.append({"snr": record["snr"], "found": bool(signal["reported"]),
                    "found_bls_peak": bool(plain["reported"])})  # fmt: skip
    return pd.DataFrame(out)


def independent_generator(n: int, seed: int):
    """Planets in TESS-like sectors made without exohunt's simulator: 27.4-day sectors at 10- or
    30-minute cadence with a 1-day gap in the middle, white noise plus power-law (1/f^a, a in
    1-2.5) red noise drawn in Fourier space, a slow ramp after each gap, and trapezoid transits
    (ingress 5-30% of the duration) of periods 0.5-13 d."""
    from exohunt.lightcurve.inject import transit_snr

    rng = np.random.default_rng(10_000 + seed)
    curves, records = [], []
    for _ in range(n):
        step = rng.choice([10.0, 30.0]) / 1440.0
        t = np.arange(0.0, 27.4, step) + 1325.0
        t = t[np.abs(t - 1338.7) > 0.5]
        white = 10 ** rng.uniform(-4, -2.5)
        freqs = np.fft.rfftfreq(t.size, step)
        slope = rng.uniform(1.0, 2.5)
        amplitude = np.zeros(freqs.size)
        amplitude[1:] = freqs[1:] ** (-slope / 2)
        phases = np.exp(2j * np.pi * rng.random(freqs.size))
        red = np.fft.irfft(amplitude * phases, t.size)
        red *= white * rng.uniform(0.2, 2.0) / red.std()
        ramp = rng.uniform(0, 5) * white * np.exp(-(t - t[0]) / rng.uniform(0.2, 1.0))
        ramp += (
            rng.uniform(0, 5) * white * np.exp(-np.clip(t - 1339.2, 0, None) / 0.5) * (t > 1339.2)
        )
        flux = 1 + white * rng.standard_normal(t.size) + red + ramp
        period = float(np.exp(rng.uniform(np.log(0.5), np.log(13.0))))
        epoch = float(t[0] + rng.uniform(0, period))
        duration = float(np.clip(0.13 * period ** (1 / 3) * rng.uniform(0.5, 1.2), 0.03, 0.5))
        ingress = rng.uniform(0.05, 0.3) * duration
        phase = np.abs((t - epoch + 0.5 * period) % period - 0.5 * period)
        shape = np.clip((0.5 * duration - phase) / ingress, 0, 1)
        # the SNR as scan measures it: red noise over the duration, transits with data
        base = flux / pd.Series(flux).rolling(int(1 / step), center=True, min_periods=5).median()
        sigma, count = transit_snr(t, base.to_numpy(), period, epoch, duration)
        target = float(np.exp(rng.uniform(np.log(5.0), np.log(40.0))))
        depth = target * sigma / np.sqrt(max(count, 1)) / max(shape[shape > 0].mean(), 1e-3)
        curves.append((t, flux * (1 - depth * shape)))
        records.append({"period": period, "epoch": epoch, "duration_hours": duration * 24,
                        "snr": target, "n_transits": count})  # fmt: skip
    return curves, records


# --------------------------------------------------------------------------- training
def train_on(path: Path, model: str, output: Path, epochs: int = 50):
    from exohunt.config import DataConfig, TrainConfig
    from exohunt.predict import load_model
    from exohunt.train import train

    fmt = "views" if path.suffix == ".npz" else "flux-csv"
    config = TrainConfig(
        data=DataConfig(dataset=str(path), format=fmt), model=model, output=str(output),
        test_size=0.15, epochs=epochs,
    )  # fmt: skip
    train(config)
    return load_model(output)


def triage_without(stars: set[str], path: Path) -> Path:
    """The TESS Triage views without any TCE of ``stars`` (the real stars judged here: five of
    the TESS planet hosts have TCEs in it), saved at ``path``."""
    with np.load(SHARED / "tess_astronet_triage_views.npz") as z:
        arrays = {k: z[k] for k in z.files}
    tic = arrays["tic_id"].astype(np.int64).astype(str)
    keep = ~np.isin(tic, sorted(stars))
    print(f"Triage views for the CNN: {keep.sum()} of {keep.size}, without the "
          f"{(~keep).sum()} TCEs of the {len(set(tic[~keep]))} stars judged here\n")  # fmt: skip
    np.savez(path, **{k: v[keep] for k, v in arrays.items()})
    return path


def fold_hosts(hosts, folds: int, seed: int) -> list[list[int]]:
    order = np.random.default_rng(seed).permutation(len(hosts))
    return [sorted(int(i) for i in order[k::folds]) for k in range(folds)]


# --------------------------------------------------------------------------- real curves
def search_real():
    """Every real curve searched as ``exohunt scan`` does: (star, scan) pairs, model inputs kept."""
    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import scan_star

    settings = SearchSettings()
    out = []
    for source in SOURCES:
        for star in iter_stars(source):
            if star.problem:
                continue
            out.append((star, scan_star(star, settings, inputs=("flux", "views"))))
    return out


def known_snr(labels: pd.DataFrame) -> pd.Series:
    """The red-noise SNR of each known signal at its catalogue ephemeris, measured as the search
    measures its own but with every other found signal's transits masked, even those inside its
    own, best over a star's curves: whether the data can show it at all (7.1 is the search's
    threshold)."""
    from exohunt.io.stars import iter_stars
    from exohunt.lightcurve.clean import clean
    from exohunt.lightcurve.search import (
        SearchSettings,
        Signal,
        in_transit,
        same_period,
        search_star,
        vet,
    )

    out = pd.Series(np.nan, index=labels.index)
    for source in SOURCES:
        for star in iter_stars(source):
            rows = labels[(labels["star_id"] == str(star.star_id)) & labels["period"].notna()]
            if star.problem or rows.empty:
                continue
            t, f = clean(star.time, star.flux)
            result = search_star(t, f, SearchSettings())
            for i, r in rows.iterrows():
                hours = r.duration_hours if np.isfinite(r.duration_hours) else 6.0
                signal = Signal(0, r.period, r.epoch, hours / 24, np.nan, np.nan)
                # a transit shared with another planet's (one of Kepler-90 c's falls in g's
                # single transit) is not this one's depth
                keep = np.ones(result.time.size, dtype=bool)
                for other in result.signals:
                    on_this = (  # this signal, found as a single transit as long as its own
                        other.single
                        and 0.5 < other.duration / signal.duration < 2.0
                        and in_transit(
                            np.array([other.epoch]), signal.period, signal.epoch, signal.duration
                        )[0]
                    )
                    if not (same_period(other, signal) or on_this):
                        keep &= ~in_transit(result.time, other.period, other.epoch,
                                            2.0 * other.duration)  # fmt: skip
                vet(result.time[keep], result.flux[keep], signal)
                if np.isfinite(signal.snr) and signal.n_transits >= 1:
                    out[i] = np.nanmax([out[i], signal.snr])
    return out


def score_real(scans, scorers: dict) -> pd.DataFrame:
    """One row per signal: star, source, period, snr, the score of ``scorers[star_id]`` (the
    model that did not train on that star; key None for any other star) and the system score
    ``exohunt scan`` ranks by (the multiplicity boost, :func:`exohunt.scanning.system_scores`)."""
    from exohunt.scanning import system_scores

    rows = []
    for star, result in scans:
        scorer = scorers.get(str(star.star_id), scorers[None])
        scores = scorer.score(result.inputs) if result.inputs else []
        star_rows = [{"star_id": str(star.star_id), "source": star.source[:40],
                      "period": row["period"], "epoch": row["transit_time"], "snr": row["snr"],
                      "single": row["single_transit"], "single_transit": row["single_transit"],
                      "score": float(score)}
                     for row, score in zip(result.rows, scores, strict=True)]  # fmt: skip
        rows.extend(system_scores(star_rows))
    return pd.DataFrame(rows).drop(columns="single_transit")


def is_known(period, epoch, single, known_period, known_epoch, known_hours) -> bool:
    """Whether a found signal is a known one: its period within 0.5%, or, for a single transit,
    on one of the transits of a known signal of a long period (over 20 days)."""
    if not np.isfinite(known_period):
        return False
    if not single:
        return abs(period / known_period - 1) < 5e-3
    offset = abs(((epoch - known_epoch + known_period / 2) % known_period) - known_period / 2)
    return known_period > 20 and offset < known_hours / 24


def match_signals(scored: pd.DataFrame, labels: pd.DataFrame, column="score") -> pd.DataFrame:
    """Each known signal with the score (``column``) of the found signal at its period (or its
    single transit), NaN when not found."""
    out = []
    for r in labels.itertuples():
        mine = scored[scored["star_id"] == r.star_id]
        score = np.nan
        for s in mine.itertuples():
            if is_known(s.period, s.epoch, s.single, r.period, r.epoch, r.duration_hours):
                score = np.nanmax([score, getattr(s, column)])
        out.append({**r._asdict(), "score": score})
    return pd.DataFrame(out).drop(columns="Index")


def ranking_tables(
    scored: pd.DataFrame, labels: pd.DataFrame, title: str, column: str = "score"
) -> tuple[str, dict]:
    """The ranking of every labelled star by ``column`` (its best signal's), and of each
    confirmed planet against each binary and quiet star: ``(markdown, figures)``."""
    stars = labels.groupby("star_id").agg(name=("name", "first"), label=("label", "first"))
    best = scored.groupby("star_id")[column].max()
    stars["best_score"] = best.reindex(stars.index)
    stars = stars.sort_values("best_score", ascending=False)
    lines = [f"#### {title}: each star's best score", "",
             "| rank | star | name | label | best score |", "|---:|---|---|---|---:|"]  # fmt: skip
    for rank, (star, r) in enumerate(stars.iterrows(), start=1):
        lines.append(f"| {rank} | {star} | {r['name'][:40]} | {r['label']} | {r.best_score:.3f} |")
    negatives = stars[stars["label"].isin(["eb", "none"])]
    worst_negative = negatives["best_score"].max()
    planets = stars[stars["label"] == "planet"]
    above = (planets["best_score"] > worst_negative).sum()
    signals = match_signals(scored, labels, column)
    confirmed = signals[signals["kind"] == "planet"]
    detectable = confirmed[confirmed["snr"] >= 7.1]
    # a binary or quiet star without a reported signal ranks below every reported one
    negative_scores = negatives["best_score"].fillna(-np.inf)
    won_detectable = sum(
        1 for p in detectable["score"] for n in negative_scores if np.isfinite(p) and p > n
    )
    pairs = [(p, n) for p in confirmed["score"] for n in negative_scores]
    won = sum(1 for p, n in pairs if np.isfinite(p) and p > n)
    n_det = len(detectable) * len(negatives)
    lines += ["", f"planet stars above every binary and quiet star: {above} of {len(planets)} "
              f"(highest binary/quiet best score {worst_negative:.3f}, "
              f"{negatives['best_score'].idxmax()})",
              f"confirmed planets (signals) against binaries and quiet stars: {won} of "
              f"{len(pairs)} pairs won ({len(confirmed)} planets x {len(negatives)} stars; a "
              "planet the search missed loses all its pairs)",
              f"the {len(detectable)} confirmed planets these data show (SNR >= 7.1 at their "
              f"catalogue ephemeris): {won_detectable} of {n_det} pairs won", "",
              "| planet | star | P [d] | SNR at its ephemeris | score | above every binary/quiet star |",
              "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for r in confirmed.itertuples():
        ok = "yes" if np.isfinite(r.score) and r.score > worst_negative else "no"
        shown = "not found" if not np.isfinite(r.score) else f"{r.score:.3f}"
        lines.append(
            f"| {r.name[:34]} | {r.star_id} | {r.period:.4f} | {r.snr:.1f} | {shown} | {ok} |"
        )
    figures = {"planet_stars_above": int(above), "planet_stars": len(planets),
               "pairs_won": won, "pairs": len(pairs), "detectable_pairs_won": won_detectable,
               "detectable_pairs": n_det}  # fmt: skip
    return "\n".join(lines), figures


def system_summary(scored: pd.DataFrame, labels: pd.DataFrame) -> str:
    """The ranking's figures by the system score ``exohunt scan`` ranks by (the model's score
    with the multiplicity boost), beside the model's own."""
    _, own = ranking_tables(scored, labels, "", "score")
    _, system = ranking_tables(scored, labels, "", "system_score")
    boosted = int((scored["system_score"] > scored["score"]).sum())
    return (
        f"with the multiplicity boost (exohunt scan's system score; {boosted} signals on stars "
        f"with two or more candidates boosted): planet stars above every binary and quiet star "
        f"{system['planet_stars_above']} of {system['planet_stars']} "
        f"({own['planet_stars_above']} by the model's score), pairs won {system['pairs_won']} of "
        f"{system['pairs']} ({own['pairs_won']}), of the detectable planets "
        f"{system['detectable_pairs_won']} of {system['detectable_pairs']} "
        f"({own['detectable_pairs_won']})"
    )


# --------------------------------------------------------------------------- recall tables
def false_alarms(test: pd.DataFrame) -> pd.DataFrame:
    """The held-out windows whose signals are false alarms: noise, systematics and stellar
    variability (the light curves as they are, and with artefacts); binaries are counted apart."""
    return test[test["kind"].isin(["none", "artefact"])]


def threshold_at(negatives: pd.DataFrame) -> float:
    """The score that :data:`FALSE_ALARM_RATE` of ``negatives`` pass."""
    return float(np.quantile(negatives["score"], 1 - FALSE_ALARM_RATE))


def recall_at_far(test: pd.DataFrame, model: str, work: Path) -> None:
    """Recall against SNR at 1% of the false alarms and at 1% of every negative."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    test.to_csv(work / f"injections_scored_{model}.csv", index=False)
    planets = test[test["kind"] == "planet"].copy()
    planets["reported"] = planets["signal_reported"].astype(bool)
    # False alarms are the signals of noise, systematics and stellar variability (light curves
    # as they are, and with artefacts); binaries are false positives, counted apart and in the
    # stricter threshold over every negative.
    alarms = false_alarms(test)
    everything = test[test["kind"] != "planet"]
    for name, negatives in (("false alarms (none, artefact)", alarms),
                            ("every negative (binaries too)", everything)):  # fmt: skip
        threshold = threshold_at(negatives)
        planets["recovered"] = planets["reported"] & (planets["score"] > threshold)
        print(f"{model}: threshold at 1% of {name}: {threshold:.3f} ({len(negatives)} held-out "
              "curves; a curve without a reported signal raises no alarm)\n")  # fmt: skip
        print(recall_table(planets, "recovered", f"{model} @ 1%:") + "\n")
        print("| negatives | curves | flagged at the threshold |\n|---|---:|---:|")
        for kind, part in everything.groupby("kind"):
            print(f"| {kind} | {len(part)} | {(part['score'] > threshold).mean():.1%} |")
        print()
    y = (test["kind"] == "planet").astype(int)
    print(f"{model}: average precision {average_precision_score(y, test['score']):.3f}, ROC AUC "
          f"{roc_auc_score(y, test['score']):.3f} over every held-out curve\n")  # fmt: skip


def recall_table(frame: pd.DataFrame, column: str = "found", title: str = "") -> str:
    lines = [f"| SNR | {title} planets | recall |", "|---|---:|---:|"]
    for low, high in SNR_BINS:
        part = frame[(frame["snr"] >= low) & (frame["snr"] < high)]
        if part.empty:
            lines.append(f"| {low:g}-{high:g} | 0 | - |")
            continue
        r = float(part[column].mean())
        se = np.sqrt(r * (1 - r) / len(part))
        lines.append(f"| {low:g}-{high:g} | {len(part)} | {r:.1%} ± {se:.1%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is not beside the repository")
        return 0
    from exohunt.lightcurve.inject import inject, load_hosts, write_injection
    from exohunt.scanning import Scorer

    started = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="exohunt-realdata-"))
    work.mkdir(parents=True, exist_ok=True)
    labels = real_labels()
    labels["snr"] = known_snr(labels)

    print("### 1. Search recall against SNR (the injected period or single transit reported)\n")
    print("Each generator's planets, searched as `exohunt scan` does (exohunt: the red-noise SNR")
    print(
        "chooses among the BLS's 5 strongest peaks) and taking the strongest BLS peak as it is.\n"
    )
    hosts = load_hosts(SOURCES)
    for name in ("exohunt", "independent", "real"):
        rows = search_recall_rows(name, args.n_sim, args.seed, hosts)
        label = "injections into real curves" if name == "real" else f"{name} simulator"
        print(recall_table(rows, "found", f"{label}, exohunt:") + "\n")
        print(recall_table(rows, "found_bls_peak", f"{label}, BLS peak:") + "\n")

    folds = fold_hosts(hosts, args.folds, args.seed)
    print(f"{len(hosts)} real host stars in {args.folds} folds; known signals removed\n")
    cnn = None
    if args.cnn:
        seen = set(labels["star_id"]) | {str(h.star_id) for h in hosts}
        triage = triage_without(seen, work / "triage_without_judged_stars.npz")
        cnn = Scorer(train_on(triage, "cnn", work / "cnn", epochs=args.cnn_epochs))
    tests = {m: [] for m in args.models}
    cnn_tests = []
    scorers: dict[str, dict] = {m: {} for m in args.models}
    for k, fold in enumerate(folds):
        test_hosts = [hosts[i] for i in fold]
        train_hosts = [h for i, h in enumerate(hosts) if i not in set(fold)]
        train_rows, train_truth = inject(train_hosts, n=args.n_train, seed=args.seed + 10 * k)
        test_rows, test_truth = inject(test_hosts, n=args.n_test, seed=args.seed + 10 * k + 5,
                                       views=cnn is not None)  # fmt: skip
        path, _ = write_injection(train_rows, train_truth, work / f"fold{k}_train.csv.gz")
        # a light curve whose signal a scan does not report raises no alarm: score 0
        reported = test_truth["signal_reported"].astype(bool)
        if cnn is not None:  # the views scan builds, scored by the CNN
            scores = cnn.score(test_rows.drop(columns=["label", "time", "flux"]).to_dict("records"))
            cnn_tests.append(test_truth.assign(score=np.where(reported, scores, 0.0), fold=k))
        views = [c for c in ("global_view", "local_view") if c in test_rows.columns]
        records = test_rows.drop(columns=["label", *views]).to_dict("records")
        for model in args.models:
            scorer = Scorer(train_on(path, model, work / f"fold{k}_{model}"))
            scores = scorer.score(records)
            tests[model].append(test_truth.assign(score=np.where(reported, scores, 0.0), fold=k))
            for h in test_hosts:
                scorers[model][h.star_id] = scorer
            scorers[model].setdefault(None, scorer)
        print(f"fold {k}: {len(train_hosts)} training stars, {len(test_hosts)} held out: "
              f"{', '.join(h.star_id for h in test_hosts)}", flush=True)  # fmt: skip

    print("\n### 2. Injections into real light curves of held-out stars\n")
    first = pd.concat(tests[args.models[0]], ignore_index=True)
    planets = first[first["kind"] == "planet"].copy()
    planets["reported"] = planets["signal_reported"].astype(bool)
    print(recall_table(planets, "reported", "search (as scan reports):") + "\n")
    for model in args.models:
        recall_at_far(pd.concat(tests[model], ignore_index=True), model, work)
    if cnn is not None:
        print("The CNN trained on the TESS Triage views, scoring the views scan builds from the "
              "same held-out curves:\n")  # fmt: skip
        recall_at_far(pd.concat(cnn_tests, ignore_index=True), "cnn", work)

    print("### 3. Every real labelled light curve, scored by the fold that did not train on it\n")
    scans = search_real()
    for model in args.models:
        scored = score_real(scans, scorers[model])
        scored.to_csv(work / f"real_scored_{model}.csv", index=False)
        table, _ = ranking_tables(scored, labels, f"{model}, injections into real curves")
        print(table + "\n")
        print(system_summary(scored, labels) + "\n")
    if cnn is not None:
        cnn_scored = score_real(scans, {None: cnn})
        cnn_scored.to_csv(work / "real_scored_cnn.csv", index=False)
        table, _ = ranking_tables(cnn_scored, labels, "CNN on the TESS Triage views")
        print("### 4. The same with the CNN trained on the real TESS Triage views\n")
        print(table + "\n")
        print(system_summary(cnn_scored, labels) + "\n")
    print(f"({time.perf_counter() - started:.0f} s; files in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
