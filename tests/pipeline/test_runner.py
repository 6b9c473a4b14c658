from fractions import Fraction

import numpy as np
import pytest

from vidlab.core.errors import MediaError, UsageError
from vidlab.io import EncodeSettings, probe, read_frames
from vidlab.ops import get_op
from vidlab.pipeline import Recipe, execute
from vidlab.pipeline.runner import run_stream


def test_run_applies_ops_in_order(sample_mp4, tmp_path):
    out = tmp_path / "o.mkv"
    recipe = Recipe.parse("sharpen amount=1 | ema alpha=0.5")
    execute(sample_mp4, out, recipe, EncodeSettings(codec="ffv1", pix_fmt="gbrp"), copy_audio=False)
    src = read_frames(sample_mp4)
    expected = list(recipe.process(iter(src)))
    got = read_frames(out)
    assert len(got) == len(expected) == 24
    assert all(np.array_equal(a.image, b.image) for a, b in zip(expected, got, strict=True))


def test_progress_events(sample_mp4, tmp_path):
    events = []
    res = execute(sample_mp4, tmp_path / "o.mp4", "identity", on_event=events.append)
    assert res.frames == 24
    assert events[-1].state == "done" and events[-1].scope == "job"
    assert events[-1].frames_done == 24 and events[-1].frames_total == 24
    done = [e.frames_done for e in events]
    assert done == sorted(done)
    assert all(e.fps >= 0 for e in events)


def test_start_and_duration(sample_mp4, tmp_path):
    out = tmp_path / "cut.mp4"
    res = execute(sample_mp4, out, "identity", start=Fraction(1, 2), duration=Fraction(1, 5))
    assert res.frames == 6
    info = probe(out)
    assert info.frame_count == 6 and info.fps == 30


class _Boom(Exception):
    pass


def test_failing_op_leaves_nothing_behind(sample_mp4, tmp_path, monkeypatch):
    op = get_op("sharpen")

    def explode(self, image):
        raise MediaError("boom in op")

    monkeypatch.setattr(op, "apply", explode)
    with pytest.raises(MediaError, match="boom"):
        execute(sample_mp4, tmp_path / "o.mp4", "sharpen")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_input(sample_mp4):
    with pytest.raises(UsageError, match="overwrite the input"):
        execute(sample_mp4, sample_mp4, "identity")


def test_memory_stays_bounded_by_queues(sample_mp4, tmp_path):
    """Frames alive at once are bounded by the queue sizes, not the video length."""
    import gc

    from vidlab.core.frame import Frame

    def alive() -> int:
        return sum(isinstance(o, Frame) for o in gc.get_objects())

    gc.collect()
    before = alive()  # frames other tests left alive (a kept traceback holds its frames)
    peak = 0
    orig = Frame.with_image

    def counting(self, image):
        nonlocal peak
        peak = max(peak, alive() - before)
        return orig(self, image)

    Frame.with_image = counting  # type: ignore[method-assign]
    try:
        run_stream(sample_mp4, tmp_path / "o.mp4", Recipe.parse("sharpen"), copy_audio=False, queue_size=2)
    finally:
        Frame.with_image = orig  # type: ignore[method-assign]
    assert 0 < peak <= 12
