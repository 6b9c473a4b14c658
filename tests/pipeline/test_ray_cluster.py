"""The Ray executor against a real two-node Ray cluster on the loopback: two ``ray start`` nodes
(a head and a worker, one CPU each, each with its own temporary folder and ports), driven through
:func:`vidlab.pipeline.execute` with ``ray_address``. Chunks spread over both nodes, the output
equals a one-stream run frame for frame, and a cancel stops the chunks running on both nodes.

What Ray (2.60) does here, found while writing this:

- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps every Ray process on 127.0.0.1 when it has to
  guess an address, but it also switches multi-node clusters off: ``ray start --address`` then
  aborts ("Multi-node Ray clusters are not supported"). With the variable at 1, ``ray start
  --address=127.0.0.1:PORT`` rewrites the loopback address into the machine's outward address
  before connecting (ray-project/ray#59110), so a worker node cannot join a loopback head at all.
  The worker node therefore runs Ray's own ``ray start`` entry point with exactly those two
  checks relaxed (see ``_JOIN``); everything else is the stock CLI, and every process still
  gets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``.
- A second node on the same host may have its own ``--temp-dir``: its sockets, logs and object
  store live there. The session *name* is the cluster's (the worker takes it from the head), so
  both folders hold a ``session_<same name>`` folder; that is as separate as Ray makes them.
- Two nodes on one host need distinct node-manager, object-manager, agent and metrics ports
  and disjoint worker port ranges (each raylet hands out ports from its own range).
- Ray 2.60 turns token authentication on when ``~/.ray/auth_token`` exists, and a driver that
  connects to an explicit address only uses a token when ``RAY_AUTH_MODE=token`` is set. The
  cluster gets a token of its own in its temporary folder, and the driver (this process) is
  pointed at it for the module; Ray caches the mode and the token per process, so both are
  reloaded when switching.
- ``ray.util.state`` (``list_tasks``) needs the dashboard, which minimal Ray does not run; the
  tests see the running chunks in the nodes' processes instead (a Ray worker's process title is
  ``ray::<function>`` while it runs a task).
- ``ray stop --force`` kills every Ray process on the host, other users' and other test runs'
  included; the fixture kills exactly the processes its two nodes started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from vidlab.core.events import Cancelled, CancelToken, Event
from vidlab.io.codecs import EncodeSettings
from vidlab.io.samples import generate
from vidlab.pipeline import JobOptions, execute
from vidlab.pipeline.job import read_manifest

# Before Ray is imported: it reads this once, and 0 keeps this driver on the loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Ray runs multi-node clusters on Linux"),
]

LOSSLESS = EncodeSettings(codec="ffv1")
# nlmeans takes tens of ms a frame at 320x180, so a chunk keeps a one-CPU node busy for a while;
# ema is temporal, so every chunk decodes a pre-roll across its seam.
RECIPE = "denoise strength=6 | ema alpha=0.6"
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1"}
NODES = ("node_a", "node_b")  # custom resources: node_a is the head, node_b the worker node

# `ray start` for a node joining a loopback head (see the module docstring): lets the CLI start
# a non-head node although RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, and keeps --address as given.
_JOIN = (
    "import sys\n"
    "import ray._private.ray_constants as constants\n"
    "import ray._private.services as services\n"
    "constants.ENABLE_RAY_CLUSTER = True\n"
    "services.resolve_ip_for_localhost = lambda host: host\n"
    "from ray.scripts.scripts import main\n"
    "sys.argv[0] = 'ray'\n"
    "main()\n"
)


def decoded(path: Path) -> list[tuple[int, bytes]]:
    """Every frame's pts and planes, decoded with PyAV alone."""
    with av.open(str(path)) as c:
        return [(f.pts, b"".join(bytes(p) for p in f.planes)) for f in c.decode(video=0)]


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


def leftovers(folder: Path) -> list[str]:
    """Temporary files vidlab may leave behind."""
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name)


# -- the cluster ------------------------------------------------------------------------------


@dataclass
class Node:
    name: str  # its custom resource, node_a or node_b
    temp_dir: Path  # --temp-dir: sockets, logs, object store
    scratch: Path  # TMPDIR of its processes: where a chunk task unpacks its bytes
    pgid: int = 0  # `ray start` runs in a session of its own; its daemons keep the group
    node_id: str = ""
    raylet: psutil.Process | None = None

    def processes(self) -> list[psutil.Process]:
        """The node's daemons (its process group) and everything they started: Ray puts each
        worker in a process group of its own, but a worker is a child of its raylet."""
        found: dict[int, psutil.Process] = {}
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(p.pid) == self.pgid:
                    found[p.pid] = p
                    found.update((c.pid, c) for c in p.children(recursive=True))
        return list(found.values())

    def running_chunks(self) -> list[int]:
        """Pids of this node's workers that are running a chunk task right now."""
        pids = []
        if self.raylet is not None:
            with contextlib.suppress(psutil.Error):
                for p in self.raylet.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        if " ".join(p.cmdline()).strip().startswith("ray::run_chunk_bytes"):
                            pids.append(p.pid)
        return pids

    def chunk_dirs(self) -> list[str]:
        return sorted(p.name for p in self.scratch.glob("vidlab-chunk-*"))


@dataclass
class RayCluster:
    address: str
    root: Path
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def node_ids(self) -> dict[str, str]:
        return {n.node_id: n.name for n in self.nodes.values()}

    def files(self) -> list[Path]:
        return [p for n in self.nodes.values() for p in n.temp_dir.rglob("*") if p.is_file()]


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 (held open together while they are picked)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


def _free_range(size: int, taken: set[int]) -> range:
    """``size`` consecutive free ports below the ephemeral range, for a node's workers."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000 - size)
        ports = range(base, base + size)
        if taken.intersection(ports):
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in ports:
                    s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        taken.update(ports)
        return ports
    raise RuntimeError("no free range of worker ports")


def _node_args(node: Node, taken: set[int]) -> list[str]:
    """The options every node gets: loopback, one CPU, its own folder, ports and resource."""
    nm, om, agent, agent_grpc, env_agent, metrics = _free_ports(6)
    taken.update((nm, om, agent, agent_grpc, env_agent, metrics))
    workers = _free_range(32, taken)
    return [
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--num-gpus=0",
        f"--resources={json.dumps({node.name: 1})}",
        f"--object-store-memory={150 << 20}",
        f"--temp-dir={node.temp_dir}",
        f"--node-manager-port={nm}",
        f"--object-manager-port={om}",
        f"--min-worker-port={workers.start}",
        f"--max-worker-port={workers.stop - 1}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={env_agent}",
        f"--metrics-export-port={metrics}",
        "--disable-usage-stats",
    ]


def _start(node: Node, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    node.scratch.mkdir(parents=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            env={**env, "TMPDIR": str(node.scratch)},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its daemons stay in this group: the teardown kills only them
        )
        node.pgid = proc.pid
        try:
            rc = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    return subprocess.CompletedProcess(cmd, rc, log.read_text(errors="replace")[-2000:])


def _stop(nodes: list[Node]) -> None:
    """What ``ray stop --force`` does (SIGKILL), for these nodes' processes only."""
    for _ in range(2):  # a second sweep for anything started while the first one ran
        procs = [p for n in nodes if n.pgid for p in n.processes()]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(procs, timeout=10)


def _reload_ray_auth() -> None:
    """Make this process read RAY_AUTH_MODE and the token again (Ray caches both)."""
    with contextlib.suppress(ImportError):  # a Ray without token authentication
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def connected(address: str) -> Iterator[None]:
    """The test's own driver connection, always closed again: the executor then connects and
    disconnects by itself (``started_here``) as it would for any caller."""
    assert not ray.is_initialized()
    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield
    finally:
        ray.shutdown()


def _alive_nodes(address: str, want: int, timeout: float = 60) -> list[dict]:
    with connected(address):
        deadline = time.monotonic() + timeout
        while True:
            nodes = [n for n in ray.nodes() if n["Alive"]]
            if len(nodes) >= want or time.monotonic() > deadline:
                return nodes
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    # A short root: Ray's socket paths (<temp-dir>/session_<name>/sockets/...) must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="vlray-", dir="/tmp" if os.path.isdir("/tmp") else None))
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    ray_env = {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    dropped = ("RAY_ADDRESS", "RAY_AUTH_TOKEN")  # would point the nodes or the driver elsewhere
    env = {k: v for k, v in os.environ.items() if k not in dropped} | ray_env
    saved = {k: os.environ.get(k) for k in (*ray_env, *dropped)}
    head = Node("node_a", root / "a", root / "a" / "scratch")
    worker = Node("node_b", root / "b", root / "b" / "scratch")
    started: list[Node] = []
    try:
        os.environ.update(ray_env)
        for k in dropped:
            os.environ.pop(k, None)
        _reload_ray_auth()

        taken: set[int] = set()
        gcs_port, dashboard_port = _free_ports(2)
        taken.update((gcs_port, dashboard_port))
        address = f"127.0.0.1:{gcs_port}"
        ray_cli = Path(sys.executable).with_name("ray")
        cli = [str(ray_cli)] if ray_cli.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
        started.append(head)
        res = _start(
            head,
            [*cli, "start", "--head", f"--port={gcs_port}", "--include-dashboard=false",
             f"--dashboard-port={dashboard_port}", *_node_args(head, taken)],
            env,
            root / "head.log",
        )  # fmt: skip
        if res.returncode == 2:  # click's usage error: this command line is wrong, not the machine
            pytest.fail(f"ray start refused its options:\n{res.stdout}")
        if res.returncode != 0:
            pytest.skip(f"Ray cannot start a head node on this machine: {res.stdout.strip()[-600:]}")
        started.append(worker)
        res = _start(
            worker,
            [sys.executable, "-c", _JOIN, "start", f"--address={address}", *_node_args(worker, taken)],
            env,
            root / "worker.log",
        )
        assert res.returncode == 0, f"the worker node did not start:\n{res.stdout}"

        nodes = _alive_nodes(address, 2)
        assert len(nodes) == 2, nodes
        rc = RayCluster(address, root, {n.name: n for n in (head, worker)})
        for info in nodes:
            (name,) = [r for r in info["Resources"] if r in NODES]
            rc.nodes[name].node_id = info["NodeID"]
        for node in rc.nodes.values():
            raylets = [p for p in node.processes() if p.name() == "raylet"]
            assert len(raylets) == 1, raylets
            node.raylet = raylets[0]
        yield rc
    finally:
        _stop(started)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload_ray_auth()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """192 frames (6.4 s) with a keyframe every 24 frames and AAC audio."""
    p = tmp_path_factory.mktemp("cluster-clip") / "clip.mp4"
    generate(p, frames=192, size=(320, 180), fps=30, audio=True, gop=24)
    return p


@pytest.fixture(scope="module")
def reference(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe over the clip in one stream, on this machine."""
    out = tmp_path_factory.mktemp("cluster-ref") / "ref.mkv"
    execute(clip, out, RECIPE, LOSSLESS, options=JobOptions(chunk_seconds=0))
    return out


def chunk_done(events: list[Event]) -> list[Event]:
    return [e for e in events if e.scope == "chunk" and e.state == "done"]


# -- the tests --------------------------------------------------------------------------------


def test_two_nodes_each_on_the_loopback_with_its_own_folder(cluster: RayCluster):
    with connected(cluster.address):
        nodes = ray.nodes()
    assert not ray.is_initialized()
    assert len(nodes) == 2 and all(n["Alive"] for n in nodes)
    assert all(n["NodeManagerAddress"] == "127.0.0.1" for n in nodes), nodes
    for info in nodes:
        node = cluster.nodes[cluster.node_ids[info["NodeID"]]]
        # Its sockets live in its own temporary folder, and its raylet is the one it started.
        assert Path(info["ObjectStoreSocketName"]).is_relative_to(node.temp_dir), info
        assert Path(info["RayletSocketName"]).is_relative_to(node.temp_dir), info
        assert f"--node_id={info['NodeID']}" in node.raylet.cmdline()
    # Nothing any of them started listens beyond the loopback.
    for node in cluster.nodes.values():
        for p in node.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                for conn in p.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        assert conn.laddr.ip in LOOPBACK, (p.name(), conn)


def test_chunks_spread_over_both_nodes_and_match_one_stream(
    cluster: RayCluster, clip: Path, reference: Path, tmp_path: Path
):
    out = tmp_path / "ray.mkv"
    opts = JobOptions(executor="ray", ray_address=cluster.address, chunk_seconds=0.75, workers=2)
    events: list[Event] = []
    res = execute(clip, out, RECIPE, LOSSLESS, options=opts, on_event=events.append)
    assert not ray.is_initialized()  # the executor connected for the run and disconnected
    assert res.mode == "chunked" and res.frames == 192
    done = chunk_done(events)
    assert sorted(e.chunk for e in done) == list(range(8))
    per_node = Counter(cluster.node_ids.get(e.message, e.message) for e in done)
    assert set(per_node) == set(NODES), per_node  # every chunk ran on one of the two, both had work
    assert decoded(out) == decoded(reference)
    assert audio_packets(out) == audio_packets(reference)
    # The driver wrote the output and the segments; the nodes only saw bytes, in scratch
    # folders they removed again.
    names = {p.name for p in cluster.files()}
    assert out.name not in names
    assert not [n for n in names if re.fullmatch(r"\d{5}\.mkv|span\.nut|segment\..*", n) or ".partial" in n]
    assert [n.chunk_dirs() for n in cluster.nodes.values()] == [[], []]


def test_cancel_stops_the_chunks_on_both_nodes_and_the_job_resumes(
    cluster: RayCluster, clip: Path, reference: Path, tmp_path: Path
):
    out, jd = tmp_path / "ray.mkv", tmp_path / "job"
    # Two chunks of 96 frames: one a node, each several seconds of work on its one CPU.
    opts = JobOptions(executor="ray", ray_address=cluster.address, chunk_seconds=3.0, workers=2, job_dir=jd)
    token = CancelToken()
    seen: dict[str, object] = {}

    def cancel_when_both_run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not token.cancelled:
            running = {n.name: n.running_chunks() for n in cluster.nodes.values()}
            if all(running.values()):
                time.sleep(0.5)  # well into the chunk, far from its end
                seen["running"] = {n.name: n.running_chunks() for n in cluster.nodes.values()}
                seen["scratch"] = {n.name: n.chunk_dirs() for n in cluster.nodes.values()}
                break
            time.sleep(0.05)
        seen["at"] = time.monotonic()
        token.cancel()

    watcher = threading.Thread(target=cancel_when_both_run, daemon=True)
    events: list[Event] = []
    watcher.start()
    with pytest.raises(Cancelled):
        execute(clip, out, RECIPE, LOSSLESS, options=opts, cancel=token, on_event=events.append)
    watcher.join(timeout=5)
    assert not ray.is_initialized()
    # A worker's title goes back to ray::IDLE as its task ends; allow it a moment to get there.
    deadline = time.monotonic() + 2
    while True:
        still = {n.name: n.running_chunks() for n in cluster.nodes.values()}
        if not any(still.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    stopped = time.monotonic() - seen["at"]

    # A chunk task was running on each node when the token was cancelled ...
    assert "running" in seen, "the two chunks never ran on both nodes at once"
    running = seen["running"]
    assert all(running.values()), running
    assert all(seen["scratch"].values()), seen["scratch"]  # unpacked on the node, from bytes
    # ... and soon after, neither node was running it any more: it was interrupted, made no
    # segment and left no scratch behind.
    assert still == {name: [] for name in NODES}, still
    assert events[-1].state == "cancelled" and chunk_done(events) == []
    assert not out.exists() and leftovers(tmp_path) == []
    manifest = read_manifest(jd)
    assert manifest is not None and manifest["status"] == "cancelled"
    assert [c["state"] for c in manifest["chunks"]] == ["pending", "pending"]
    assert not list((jd / "chunks").iterdir())
    assert [n.chunk_dirs() for n in cluster.nodes.values()] == [[], []]

    # The same call again resumes the job and makes what one stream makes.
    again: list[Event] = []
    res = execute(clip, out, RECIPE, LOSSLESS, options=opts, on_event=again.append)
    done = chunk_done(again)
    assert res.frames == 192 and sorted(e.chunk for e in done) == [0, 1]
    assert decoded(out) == decoded(reference)
    assert audio_packets(out) == audio_packets(reference)
    # No timing threshold here (house rule): the cancel is shown by what it left, above (no chunk
    # done, no segment, no scratch, the manifest cancelled with both chunks pending) and by the
    # resume redoing both. Its latency is measured, not asserted: 0.4-0.5 s against chunks of
    # 4-6 s on a quiet machine, but once 4.8 s inside the full suite, which a comparison with
    # the chunks' own time turned into a flaky failure.
    assert stopped < 60, stopped  # the cancel returned, within the watcher's own bound
