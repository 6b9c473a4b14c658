"""Third-party ops arrive through the ``vidlab.ops`` entry-point group: install a real
distribution (a dist-info folder on sys.path) and see the op appear."""

import sys
import textwrap

import numpy as np

from vidlab.ops import get_op, reload_plugins
from vidlab.pipeline import Recipe


def test_entry_point_plugin(tmp_path, monkeypatch):
    (tmp_path / "vidlab_invert_plugin.py").write_text(
        textwrap.dedent(
            '''
            from dataclasses import dataclass
            from typing import ClassVar
            from vidlab.ops import SpatialOp, param

            @dataclass(frozen=True)
            class Invert(SpatialOp):
                """Photographic negative."""
                name: ClassVar[str] = "invert_test"
                strength: float = param(1.0, min=0.0, max=1.0, help="blend with the negative")

                def apply(self, image):
                    return (255 - image) if self.strength == 1.0 else image
            '''
        )
    )
    dist = tmp_path / "vidlab_invert_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vidlab-invert-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vidlab.ops]\ninvert_test = vidlab_invert_plugin:Invert\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        reload_plugins()
        op_cls = get_op("invert_test")
        assert op_cls.summary() == "Photographic negative."
        op = Recipe.parse("invert_test strength=1").ops[0]
        img = np.full((4, 4, 3), 10, np.uint8)
        assert (op.apply(img) == 245).all()
    finally:
        sys.modules.pop("vidlab_invert_plugin", None)


def test_builtin_op_table_matches_the_modules():
    """get_op imports only the module an op lives in; the table must name every built-in op."""
    from vidlab.ops.registry import _BUILTIN_MODULES, BUILTIN_OPS, list_ops

    builtins = {op.name: op.__module__ for op in list_ops() if op.__module__ in _BUILTIN_MODULES}
    assert builtins == BUILTIN_OPS
