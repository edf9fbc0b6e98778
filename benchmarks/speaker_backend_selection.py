"""How the speaker back-end behind ``--features adapted`` was chosen: candidate back-ends over
resemblyzer vectors, fitted on the train speakers of a speech corpus and scored on seeded
draws of its valid (chooser) and test-real (held-out) speakers.

Every usable clip (readable, not silent, at least 0.5 s, bytes not seen before) of the
``train``, ``valid`` and ``test-real`` speakers of ``--data`` is described once by
resemblyzer. Each candidate is fitted on the train speakers' vectors, either all of them or
the real ones only (ids ``r-...``):

* ``raw``: resemblyzer as it is (the reference);
* ``centre``: the fitting vectors' mean taken away (``fit_backend(..., remove=0)``);
* ``remove-K``: centring, then the top K shared directions projected out
  (``fit_backend(..., remove=K)``: what ``sonomorph train speaker-backend --remove K`` fits);
* ``wccn``: centring, then whitening by the within-speaker covariance (speaker labels used);
* ``lda-D``: centring, then linear discriminant analysis to D dimensions (scikit-learn).

Each is scored like ``benchmarks/speaker_draws.py``: ``--draws`` seeded draws of 8 enrolment
and 7 test clips per speaker, 1-NN cosine, on the valid and on the test-real speakers, with
the draws above / equal / below ``raw`` on the same draw. The rule, fixed before the run:
the candidate with the best valid mean is chosen (ties: the simpler one, earlier in the
list). The file also records whether the chosen candidate's buffers equal those of the
shipped back-end (``sonomorph/pretrained/speaker-backend.safetensors``) and its sha256.

Run::

    .venv/bin/python benchmarks/speaker_backend_selection.py --data corpora/speech \\
        --json benchmarks/results/speaker-backend-selection.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.cli.common import write_json  # noqa: E402
from sonomorph.eval.bench import add_device_option, parse_args  # noqa: E402
from sonomorph.utils.fs import portable_path  # noqa: E402

ENROL, TEST, MIN_SECONDS = 8, 7, 0.5
SPLITS = ("train", "valid", "test-real")
REMOVE = (1, 2, 4)
LDA = (16, 32, 48, 64, 85)


def describe(root: Path, progress=None, device: str = "cpu") -> tuple[dict, dict, dict]:
    """``{split: (vectors (N, 256), labels (N,))}`` of every usable clip, the skip counts,
    and resemblyzer's versions."""
    from sonomorph.eval.analysis import describe_speaker_clips
    from sonomorph.pipelines.speakers import feature_versions, make_extractor

    extractor = make_extractor("resemblyzer", device=device)
    out, skipped, seen = {}, {}, set()
    for sp in SPLITS:
        clips, skips = describe_speaker_clips(root, sp, {"resemblyzer": extractor},
                                              min_seconds=MIN_SECONDS, seen=seen,
                                              progress=progress)
        for reason, n in skips.items():
            skipped[reason] = skipped.get(reason, 0) + n
        labels = [s for s, rows in clips.items() for _ in rows]
        vecs = [r["resemblyzer"] for rows in clips.values() for r in rows]
        out[sp] = (np.stack(vecs).astype(np.float64), np.array(labels))
    return out, skipped, feature_versions(extractor)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def candidates(x: np.ndarray, y: np.ndarray) -> dict:
    """name -> (transform of (N, 256) vectors, the fitted back-end or None)."""
    import torch
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from sonomorph.models.speaker_backend import fit_backend

    def backend_fn(backend):
        def apply(z):
            with torch.no_grad():
                return backend(torch.from_numpy(z.astype(np.float32))).double().numpy()
        return apply

    mu = x.mean(axis=0)
    xc = unit(x - mu)
    out = {"raw": (unit, None)}
    centre = fit_backend(x, remove=0)
    out["centre"] = (backend_fn(centre), centre)
    for k in REMOVE:
        b = fit_backend(x, remove=k)
        out[f"remove-{k}"] = (backend_fn(b), b)
    w = np.zeros((x.shape[1], x.shape[1]))
    for s in np.unique(y):
        a = xc[y == s] - xc[y == s].mean(axis=0)
        w += a.T @ a
    w = w / len(xc) + 1e-3 * np.eye(x.shape[1]) * np.trace(w / len(xc)) / x.shape[1]
    e, v = np.linalg.eigh(w)
    t = v @ np.diag(e ** -0.5) @ v.T
    out["wccn"] = (lambda z: unit(unit(z - mu) @ t), None)
    for d in LDA:
        lda = LinearDiscriminantAnalysis(n_components=min(d, len(np.unique(y)) - 1),
                                         solver="svd").fit(xc, y)
        out[f"lda-{d}"] = ((lambda m: lambda z: unit(m.transform(unit(z - mu))))(lda), None)
    return out


def score(f: np.ndarray, y: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """1-NN accuracy on ``draws`` seeded draws of ENROL + TEST clips per speaker."""
    speakers = sorted(s for s in np.unique(y) if (y == s).sum() >= ENROL + TEST)
    idx = {s: np.flatnonzero(y == s) for s in speakers}
    rng = np.random.default_rng(seed)
    acc = []
    for _ in range(draws):
        picks = {s: idx[s][rng.permutation(len(idx[s]))[:ENROL + TEST]] for s in speakers}
        e = np.concatenate([picks[s][:ENROL] for s in speakers])
        t = np.concatenate([picks[s][ENROL:] for s in speakers])
        nearest = e[np.argmax(f[t] @ f[e].T, axis=1)]
        acc.append(float(np.mean(y[nearest] == y[t])))
    return np.array(acc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("corpora/speech"),
                   help="speech corpus (sonomorph corpus speech) (default: corpora/speech)")
    p.add_argument("--draws", type=int, default=20, help="seeded draws (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    add_device_option(p)
    args = parse_args(p, argv)
    if args.draws < 1:
        p.error("--draws must be at least 1")

    import torch

    from sonomorph import pretrained
    from sonomorph.models.checkpoint import load_model
    from sonomorph.utils.hashing import sha256_file
    from sonomorph.utils.progress import progress_bar

    with progress_bar("describing clips", None) as update:
        data, skipped, versions = describe(args.data, update, args.device)
    xtr, ytr = data["train"]
    rows, reference = [], {}
    for fitted_on in ("all", "real"):
        keep = np.ones(len(ytr), bool) if fitted_on == "all" else np.char.startswith(
            ytr.astype(str), "r-")
        for name, (fn, backend) in candidates(xtr[keep], ytr[keep]).items():
            if fitted_on == "real" and name == "raw":
                continue
            row = {"candidate": name, "fitted_on": fitted_on,
                   "fit_speakers": int(len(np.unique(ytr[keep]))), "fit_clips": int(keep.sum())}
            for split in ("valid", "test-real"):
                x, y = data[split]
                acc = score(fn(x), y, args.draws, args.seed)
                if name == "raw":
                    reference[split] = acc
                ref = reference[split]
                row[split] = {"mean": float(acc.mean()), "min": float(acc.min()),
                              "max": float(acc.max()),
                              "above_raw": int((acc > ref + 1e-9).sum()),
                              "equal_raw": int((np.abs(acc - ref) <= 1e-9).sum()),
                              "below_raw": int((acc < ref - 1e-9).sum()),
                              "per_draw": [round(float(a), 6) for a in acc]}
            row["_backend"] = backend
            rows.append(row)
    best = max(range(len(rows)), key=lambda i: (round(rows[i]["valid"]["mean"], 9), -i))
    chosen = rows[best]
    shipped = {}
    if "speaker-backend" in pretrained.available():
        path = pretrained.path_for("speaker-backend")
        model, _ = load_model(path, expect="speaker-backend")
        b = chosen["_backend"]
        same = b is not None and model.remove == b.remove and all(
            torch.allclose(getattr(model, k), getattr(b, k).float(), atol=1e-5)
            for k in ("mean", "basis"))
        shipped = {"file": str(path.relative_to(ROOT)), "sha256": sha256_file(path),
                   "equals_chosen": bool(same)}
    for r in rows:
        r.pop("_backend")
    print(f"train {len(ytr)} clips, valid {len(data['valid'][1])}, test-real "
          f"{len(data['test-real'][1])}; skipped: {skipped or 'none'}; {args.draws} draws")
    print("| candidate | fitted on | valid mean | vs raw | test-real mean | vs raw |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        v, t = r["valid"], r["test-real"]
        print(f"| {r['candidate']} | {r['fitted_on']} | {v['mean']:.1%} | {v['above_raw']}/"
              f"{v['equal_raw']}/{v['below_raw']} | {t['mean']:.1%} | {t['above_raw']}/"
              f"{t['equal_raw']}/{t['below_raw']} |")
    print(f"chosen by the valid mean: {chosen['candidate']} fitted on {chosen['fitted_on']}; "
          f"the shipped back-end: {shipped or 'none'}")
    if args.json:
        out = {"benchmark": "speaker_backend_selection", "data": portable_path(args.data),
               "enroll": ENROL, "test": TEST, "min_seconds": MIN_SECONDS, "draws": args.draws,
               "seed": args.seed, "rule": "best valid mean; ties: the earlier candidate",
               "resemblyzer": versions, "skipped": skipped,
               "chosen": {"candidate": chosen["candidate"], "fitted_on": chosen["fitted_on"]},
               "shipped": shipped, "rows": rows}
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
