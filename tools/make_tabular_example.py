"""Write data/breast-cancer-mixed.csv: the example of real tabular data, made from scikit-learn's
bundled breast cancer set (no download), with what real tables have and the bundled sets lack:
text columns (a size band, a texture grade) and missing values, placed by a fixed seed.

    python tools/make_tabular_example.py          # rewrites the file (the same bytes every run)
    python tools/make_tabular_example.py --check  # exit 1 when the committed file differs
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "data" / "breast-cancer-mixed.csv"
SEED = 20261130
MISSING = {"mean smoothness": 0.05, "mean symmetry": 0.03, "size band": 0.04}


def build() -> str:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    keep = [c for c in frame.columns if c.startswith("mean ")]
    out = frame[keep].round(5)
    bands = np.quantile(out["mean area"], [1 / 3, 2 / 3])
    area = out["mean area"]
    out["size band"] = np.where(area < bands[0], "small", np.where(area < bands[1], "medium", "large"))
    out["texture grade"] = np.where(out["mean texture"] < out["mean texture"].median(), "smooth", "rough")
    out = out.drop(columns=["mean area", "mean texture"]).astype({"size band": object, "texture grade": object})
    rng = np.random.default_rng(SEED)
    for column, share in MISSING.items():
        out.loc[rng.random(len(out)) < share, column] = None
    out["target"] = frame["target"]
    text = io.StringIO()
    out.to_csv(text, index=False, lineterminator="\n")
    return text.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = build()
    if args.check:
        same = TARGET.is_file() and TARGET.read_text(encoding="utf-8") == text
        print(f"{TARGET.relative_to(ROOT)}: {'up to date' if same else 'differs: run tools/make_tabular_example.py'}")
        return 0 if same else 1
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
