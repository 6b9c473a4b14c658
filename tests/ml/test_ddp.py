"""DDP: a 2-process run on the CPU (gloo, rendezvous on 127.0.0.1) completes, only rank 0
writes the run folder, and both ranks end with the same weights."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this torch has no torch.distributed", allow_module_level=True)

from vidlab.ml.checkpoint import load_checkpoint  # noqa: E402

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from vidlab.ml.train import TrainConfig, train

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, n, seed):
            g = torch.Generator().manual_seed(seed)
            self.y = torch.rand(n, 3, 8, 8, generator=g)
            self.x = (self.y + 0.1 * torch.randn(n, 3, 8, 8, generator=g)).clamp(0, 1)
        def __len__(self):
            return len(self.y)
        def __getitem__(self, i):
            return self.x[i], self.y[i]

    class Toy:
        name, arch, arch_config = "toy", "enhancer", {"channels": 8, "layers": 1}
        def datasets(self, config):
            return Pairs(32, 1), Pairs(8, 2)
        def describe(self):
            return {"kind": "toy"}

    out = sys.argv[1]
    cfg = TrainConfig(output=os.path.join(out, "run"), steps=6, batch_size=4, grad_accum=2, lr=3e-3,
                      warmup_steps=2, val_every=3, val_batches=1, patience=0, checkpoint_every=3,
                      log_every=1, threads=1, loss="l1")
    res = train(Toy(), cfg)
    rank = int(os.environ["RANK"])
    torch.save(res.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"state": res.state, "steps": res.steps, "best_val": res.best_val,
                   "world": int(os.environ["WORLD_SIZE"])}, f)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run_ends_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "GLOO_SOCKET_IFNAME": "lo",  # gloo's own sockets on the loopback too
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(script), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    written = sorted(p.name for p in tmp_path.glob("rank*"))
    assert proc.returncode == 0, f"exit {proc.returncode}, wrote {written}: {proc.stderr[-6000:]}"

    import json

    infos = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(i["state"] == "done" and i["steps"] == 6 and i["world"] == 2 for i in infos)
    assert infos[0]["best_val"] == infos[1]["best_val"]  # validation is reduced over both ranks
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["step"] == 6
    for k in a:
        assert torch.equal(last["model"][k], a[k]), k
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "best.pt", "config.yaml", "last.pt", "log.csv", "loss.png"
    ]  # fmt: skip
    # the weights moved: DDP trained, it did not just copy the initial net
    assert not torch.all(a["body.4.weight"] == 0)  # zero-initialised
