from fractions import Fraction

from vidlab.io import probe


def test_probe_basic(sample_mp4):
    info = probe(sample_mp4)
    assert (info.width, info.height) == (320, 180)
    assert info.fps == Fraction(30)
    assert info.frame_count == 24
    assert info.duration == Fraction(24, 30)
    assert info.start_time == 0
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.color.names() == {"primaries": "bt709", "transfer": "bt709", "matrix": "bt709", "range": "tv"}
    assert not info.is_vfr
    assert [a.codec for a in info.audio] == ["aac"]
    assert info.audio[0].sample_rate == 48000 and info.audio[0].channels == 2


def test_probe_ntsc_sar_rotation(ntsc_mp4):
    info = probe(ntsc_mp4)
    assert info.fps == Fraction(30000, 1001)
    assert info.sar == Fraction(4, 3)
    assert info.rotation == 90
    assert info.frame_count == 20
    assert not info.is_vfr
    assert info.color.names()["matrix"] == "unknown"


def test_probe_vfr(vfr_mkv):
    info = probe(vfr_mkv)
    assert info.is_vfr
    assert info.frame_count == 24


def test_probe_ten_bit(tenbit_mkv):
    info = probe(tenbit_mkv)
    assert info.pix_fmt == "yuv420p10le"
    assert info.bit_depth == 10


def test_to_dict_is_json_friendly(sample_mp4):
    import json

    d = probe(sample_mp4).to_dict()
    assert json.loads(json.dumps(d))["fps"] == "30"
    assert d["duration"] == "4/5"
