"""Fetch the photographs the shipped ``neural_enhance`` model was trained on, besides the bundled
ones: the eleven photographic wallpapers of Debian's ``plasma-workspace-wallpapers`` package
(KDE, GPL-2+), downloaded with ``apt-get download`` (these machines reach Debian's archive),
read straight out of the .deb (an ar archive holding data.tar.xz: no dpkg or root needed),
scaled to at most 1600 px on the long side (which also hides the wallpapers' own JPEG
artifacts) and written losslessly as PNG.

    python scripts/training_photos.py [-o runs/photos] [--deb FILE.deb]
    vidlab train enhancer --config configs/train_enhancer.yaml --generate 40 --photos runs/photos

None of them is a benchmark photograph (vidlab.io.footage.TEST_PHOTOS are scikit-image's).
The output is deterministic: the same .deb gives the same PNGs, so the training data cache and
its hashes are reproducible. ``manifest.json`` records the .deb's version and sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np

PACKAGE = "plasma-workspace-wallpapers"
#: The wallpapers that are photographs (the others are drawn or rendered), largest file each.
PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
MAX_SIDE = 1600


def ar_member(deb: bytes, prefix: str) -> tuple[str, bytes]:
    """The first member of an ar archive whose name starts with ``prefix``."""
    if not deb.startswith(b"!<arch>\n"):
        raise SystemExit("not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[pos + 60 : pos + 60 + size]
        if name.startswith(prefix):
            return name, body
        pos += 60 + size + (size & 1)
    raise SystemExit(f"no {prefix}* member in the package")


def download(dest: Path) -> Path:
    subprocess.run(["apt-get", "download", PACKAGE], cwd=dest, check=True, capture_output=True)
    return next(dest.glob(f"{PACKAGE}_*.deb"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=Path("runs/photos"))
    ap.add_argument("--deb", type=Path, help=f"an already downloaded {PACKAGE} .deb")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        deb_path = args.deb or download(Path(tmp))
        deb = deb_path.read_bytes()
        name, data = ar_member(deb, "data.tar")
        mode = {"data.tar.xz": "r:xz", "data.tar.gz": "r:gz", "data.tar.zst": None}.get(name, "r:")
        if mode is None:
            raise SystemExit("zstd-compressed package: extract it with dpkg-deb and pass the folder")
        args.output.mkdir(parents=True, exist_ok=True)
        written = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tar:
            members = tar.getmembers()
            for photo in PHOTOS:
                prefix = f"./usr/share/wallpapers/{photo}/contents/images/"
                jpgs = [m for m in members if m.name.startswith(prefix) and m.name.endswith(".jpg")]
                if not jpgs:
                    raise SystemExit(f"{photo}: not in this version of {PACKAGE}")
                best = max(jpgs, key=lambda m: m.size)
                raw = np.frombuffer(tar.extractfile(best).read(), np.uint8)
                img = cv2.imdecode(raw, cv2.IMREAD_COLOR)
                scale = MAX_SIDE / max(img.shape[:2])
                if scale < 1:
                    size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                out = args.output / f"{photo}.png"
                cv2.imwrite(str(out), img)
                written[out.name] = hashlib.sha256(out.read_bytes()).hexdigest()
                print(f"{out}  {img.shape[1]}x{img.shape[0]}  from {Path(best.name).name}")
    manifest = {
        "package": deb_path.name,
        "sha256": hashlib.sha256(deb).hexdigest(),
        "license": f"GPL-2+ (KDE Visual Design Group), see /usr/share/doc/{PACKAGE}/copyright",
        "max_side": MAX_SIDE,
        "files": written,
    }
    (args.output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
