"""Training data from video: camera-like footage, real-encode pairs, layouts and crops."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidlab.core.errors import UsageError
from vidlab.core.events import Cancelled, CancelToken
from vidlab.io.footage import (
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    Footage,
    FootageSpec,
    photo_folder,
    training_specs,
    write_footage,
)
from vidlab.io.probe import probe
from vidlab.metrics.image import psnr
from vidlab.ml import datasets as ds


def test_footage_is_a_pure_function_of_the_frame_index():
    f = Footage(FootageSpec(photo="leaves", seed=3), 160, 96)
    assert np.array_equal(f.frame(5), Footage(FootageSpec(photo="leaves", seed=3), 160, 96).frame(5))
    assert not np.array_equal(f.frame(5), f.frame(6))


def test_footage_has_sensor_noise_blur_and_flicker():
    quiet = FootageSpec(photo="camera", motion="static", subjects=0, noise=0, shutter=0, flicker=0, seed=1)
    clean = Footage(quiet, 192, 112)
    # a static, noiseless, flicker-free shot changes only by the slow exposure drift
    assert psnr(clean.frame(0), clean.frame(1)) > 45
    noisy = Footage(
        FootageSpec(photo="camera", motion="static", subjects=0, noise=4, shutter=0, seed=1), 192, 112
    )
    a, b = noisy.frame(0).astype(int), noisy.frame(1).astype(int)
    assert 0.5 < np.std(a - b) < 8  # fresh noise in every frame
    # noise is stronger in bright areas (shot noise) but present in dark ones (read noise)
    dark = clean.frame(0).mean(axis=2) < 40
    assert dark.any() and np.std((a - b)[dark]) > 0.3
    pan = FootageSpec(
        photo="camera", motion="pan", subjects=0, noise=0, shutter=0.9, flicker=0, speed=4, seed=1
    )
    sharp = FootageSpec(
        photo="camera", motion="pan", subjects=0, noise=0, shutter=0, flicker=0, speed=4, seed=1
    )
    blurred, still = Footage(pan, 192, 112).frame(20), Footage(sharp, 192, 112).frame(20)
    gy = lambda im: np.abs(np.diff(im.astype(float).mean(axis=2), axis=1)).mean()  # noqa: E731
    assert gy(blurred) < gy(still)  # motion blur softens edges across the pan


def test_train_and_test_photos_are_disjoint():
    assert not set(TRAIN_PHOTOS) & set(TEST_PHOTOS)
    for spec in training_specs(12):
        assert spec.photo == "leaves" or spec.photo in TRAIN_PHOTOS
        assert set(spec.palette) <= set(TRAIN_PHOTOS)


def test_write_footage_probes_exactly(tmp_path: Path):
    info = write_footage(tmp_path / "f.mp4", FootageSpec(seed=2), frames=12, size=(160, 96), fps=Fraction(25))
    assert (info.width, info.height, info.frame_count, info.fps) == (160, 96, 12, Fraction(25))


def _small_sources(count: int = 1) -> list[ds.Source]:
    return ds.generated_sources(count, size=(160, 96), frames=8, seed=5)


DEGS = [
    ds.Degradation("libx264", crf=26, preset="veryfast"),
    ds.Degradation("libvpx-vp9", bpp=0.3, preset="8"),
]


def test_pairs_are_real_encodes_of_their_originals(tmp_path: Path):
    cache = ds.build_pairs(_small_sources(), tmp_path, degradations=DEGS, frames_per_clip=8, keep_every=2)
    assert cache.original.shape == (4, 96, 160, 3)
    assert cache.degraded.shape == (8, 96, 160, 3)  # 4 kept frames x 2 encodes
    assert cache.meta["labels"] == ["libx264-crf26"] * 4 + ["libvpx-vp9-0.3bpp"] * 4
    for k in range(8):
        score = psnr(cache.original[cache.index[k]], cache.degraded[k])
        assert 18 < score < 45, score  # lossy but the same picture
        others = [psnr(cache.original[j], cache.degraded[k]) for j in range(4) if j != cache.index[k]]
        assert score >= max(others) - 0.5  # aligned with its own original
    # a second build with the same sources and options reuses the cache
    again = ds.build_pairs(_small_sources(), tmp_path, degradations=DEGS, frames_per_clip=8, keep_every=2)
    assert again.root == cache.root
    assert len(list(tmp_path.iterdir())) == 1


def test_a_cancelled_build_leaves_nothing(tmp_path: Path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        ds.build_pairs(_small_sources(), tmp_path, degradations=DEGS, frames_per_clip=4, cancel=token)
    assert list(tmp_path.iterdir()) == []


def _touch_videos(root: Path, classes: dict[str, int]) -> None:
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            (root / name / f"v_{name}_g{i:02d}.avi").write_bytes(b"")


def test_layout_split_is_stratified_disjoint_and_seeded(tmp_path: Path):
    _touch_videos(tmp_path, {"Archery": 10, "Basketball": 5, "Typing": 3, "Yoyo": 1})
    parts = ds.split_layout(tmp_path, seed=1)
    allv = [p for v in parts.values() for p in v]
    assert len(allv) == len(set(allv)) == 19
    for cls in ("Archery", "Basketball", "Typing"):
        for split in ("train", "val", "test"):
            assert any(p.parent.name == cls for p in parts[split]), (cls, split)
    assert [p.parent.name for p in parts["train"]].count("Archery") == 8
    assert all(p.parent.name != "Yoyo" for p in parts["val"] + parts["test"])  # too few to split
    assert parts == ds.split_layout(tmp_path, seed=1)
    assert parts != ds.split_layout(tmp_path, seed=2)


def test_folder_errors_are_one_line(tmp_path: Path):
    with pytest.raises(UsageError, match="no videos"):
        ds.find_videos(tmp_path)
    with pytest.raises(UsageError, match="not a folder"):
        ds.find_videos(tmp_path / "missing")


def test_user_videos_skip_a_broken_file(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    write_footage(tmp_path / "good.mp4", FootageSpec(seed=1), frames=6, size=(160, 96))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    with caplog.at_level(logging.WARNING, logger="vidlab.ml.datasets"):
        sources = ds.file_sources(ds.find_videos(tmp_path))
    assert [s.name for s in sources] == ["good"]
    assert "broken.mp4" in caplog.text
    frames = list(sources[0].decoded())
    assert len(frames) == 6 and frames[0].shape == (96, 160, 3)
    caplog.clear()


torch = pytest.importorskip("torch")


def test_crops_are_aligned_deterministic_and_scaled(tmp_path: Path):
    from vidlab.ml.tasks import ALIGN, PairCrops

    cache = ds.build_pairs(_small_sources(), tmp_path, degradations=DEGS[:1], frames_per_clip=4, keep_every=1)
    crops = PairCrops(cache, np.arange(4), 32, seed=0, length=50)
    a, b = crops[7]
    assert a.shape == b.shape == (3, 32, 32) and a.dtype == torch.float32
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(crops[7][0], a)  # a pure function of (seed, index)
    # the crop is the same window of the degraded frame and its original, on the 16-px grid
    hits = []
    for k in range(4):
        full = torch.from_numpy(np.array(cache.original[cache.index[k]])).permute(2, 0, 1).float() / 255
        for y in range(0, 96 - 32 + 1, ALIGN):
            for x in range(0, 160 - 32 + 1, ALIGN):
                win = full[:, y : y + 32, x : x + 32]
                if (
                    torch.equal(win, b)
                    or torch.equal(win.flip(2), b)
                    or torch.equal(win.flip(1), b)
                    or torch.equal(win.flip(1).flip(2), b)
                ):
                    hits.append((k, y, x))
    assert hits
    with pytest.raises(UsageError, match="multiple of 16"):
        PairCrops(cache, np.arange(4), 40, seed=0)


def test_frame_tuples_and_style_frames(tmp_path: Path):
    from vidlab.ml.tasks import FrameTuples, StyleFrames

    frames, clip = ds.build_frames(_small_sources(2), tmp_path, frames_per_clip=6)
    assert frames.shape == (12, 96, 160, 3) and list(clip) == [0] * 6 + [1] * 6
    assert list(ds.tuple_starts(clip, 3)) == [0, 1, 2, 3, 6, 7, 8, 9]  # never across clips
    trip = FrameTuples(frames, clip, 32, length=3)
    x, y = trip[0]
    assert x.shape == (6, 32, 32) and y.shape == (3, 32, 32)
    quint = FrameTuples(frames, clip, 32, length=5)
    x5, _ = quint[0]
    assert x5.shape == (12, 32, 32) and len(quint) == 4
    s, t = StyleFrames(frames, 32)[3]
    assert torch.equal(s, t) and s.shape == (3, 32, 32)


def test_enhancer_task_holds_out_validation_clips(tmp_path: Path):
    from vidlab.ml.tasks import EnhancerTask

    task = EnhancerTask(generate=3, cache_dir=tmp_path, frames_per_clip=4, keep_every=2, size=(160, 96))
    task.codecs = ("libx264",)
    train_src, val_src = task._splits()
    assert {s.key for s in train_src}.isdisjoint({s.key for s in val_src})
    with pytest.raises(UsageError, match="either data"):
        EnhancerTask.from_options(data=None, generate=None)
    video = probe(write_footage(tmp_path / "v.mp4", FootageSpec(seed=4), frames=4, size=(160, 96)).path)
    assert video.frame_count == 4


def _photo_dir(tmp_path: Path) -> Path:
    """Two small 'photographs' (smooth colour fields) in a folder, and one non-image file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    yy, xx = np.mgrid[0:120, 0:200]
    for k, name in enumerate(("a.png", "b.jpg")):
        img = np.stack([xx + 40 * k, yy * 2, (xx + yy) // 2], axis=2).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_training_scenes_draw_on_a_folder_of_photos(tmp_path: Path):
    folder = _photo_dir(tmp_path)
    files = photo_folder(folder)
    assert [Path(f).name for f in files] == ["a.png", "b.jpg"]
    specs = training_specs(4, photos=(*TRAIN_PHOTOS, *files))
    scenes = {s.photo for s in specs}
    assert "leaves" in scenes and set(specs[0].palette) == {*TRAIN_PHOTOS, *files}
    assert not set(specs[0].palette) & set(TEST_PHOTOS)
    # a photo file is a scene of its own: its clip shows the file's picture
    spec = FootageSpec(photo=files[0], motion="static", subjects=0, noise=0, flicker=0, palette=files)
    frame = Footage(spec, 96, 64).clean(0)
    assert frame.shape == (64, 96, 3) and frame[..., 1].std() > 5  # the gradient, not a flat fill
    # the default photos are untouched: the same specs as before the option existed
    assert training_specs(3) == training_specs(3, photos=TRAIN_PHOTOS)
    sources = ds.generated_sources(2, size=(96, 64), frames=4, seed=1, photos=files)
    assert sources[0].key != ds.generated_sources(2, size=(96, 64), frames=4, seed=1)[0].key


def test_photo_folder_and_unknown_photos_are_one_line(tmp_path: Path):
    with pytest.raises(UsageError, match="not a folder"):
        photo_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images"):
        photo_folder(tmp_path / "empty")
    with pytest.raises(UsageError, match="unknown photo"):
        FootageSpec(photo=str(tmp_path / "nope.png"))


def test_x264_preset_of_the_training_encodes(tmp_path: Path):
    from vidlab.ml.tasks import EnhancerTask

    assert {d.preset for d in ds.default_degradations(("libx264",))} == {"veryfast"}  # the shipped data
    assert {d.preset for d in ds.default_degradations(("libx264",), "medium")} == {"medium"}
    assert {d.preset for d in ds.default_degradations(("libvpx-vp9",), "medium")} == {"5"}
    task = EnhancerTask.from_options(generate=2, cache_dir=tmp_path, x264_preset="fastest")
    with pytest.raises(UsageError, match="x264_preset 'fastest' is not one of ultrafast"):
        task.caches()
    assert not any(tmp_path.iterdir())  # refused before anything was encoded
