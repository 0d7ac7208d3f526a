"""A chosen GPU (issue 32, item 3): --device cuda:N and run.device, checked against the GPUs here,
and the GPU's name and memory in use in the store's provenance, ps and the status lines.

No GPU is needed: torch.cuda is replaced by a fake with two cards.  What only a real card can show
(a run trained on cuda:1, its memory read back) is benchmarks/gpu_check.py's, run on a GPU machine.
"""

import io
import json
import os
import socket
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from glasslab.core.errors import BadInput
from glasslab.core.records import RunStarted, StepLogged
from glasslab.core.runs import control, live
from glasslab.core.store import codec
from glasslab.core.store.lock import process_start
from glasslab.core.system import devices
from glasslab.tui.cli import app
from glasslab.tui.numbers import device_text

GiB = 2**30
runner = CliRunner()


@pytest.fixture
def two_gpus(monkeypatch):
    """torch.cuda as a machine with two 80 GiB cards would answer it."""
    cuda = torch.cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "device_count", lambda: 2)
    monkeypatch.setattr(cuda, "current_device", lambda: 0)
    monkeypatch.setattr(cuda, "get_device_name", lambda i=None: f"Fake H100 #{i}")
    monkeypatch.setattr(cuda, "get_device_properties", lambda i=None: SimpleNamespace(total_memory=80 * GiB))
    monkeypatch.setattr(cuda, "memory_allocated", lambda i=None: (3 * GiB) // 2 if i == 1 else 0)


def test_cuda_n_is_the_nth_gpu_and_an_absent_one_is_one_line(two_gpus):
    assert devices.resolve("cuda:1") == torch.device("cuda:1") and devices.resolve("cuda") == torch.device("cuda")
    with pytest.raises(BadInput) as err:
        devices.resolve("cuda:2")
    assert str(err.value) == ("device cuda:2 asked for, but this machine has 2 CUDA GPUs: "
                              "cuda:0 (Fake H100 #0), cuda:1 (Fake H100 #1)")
    assert devices.available() == ["auto", "cpu", "cuda", "cuda:0", "cuda:1"]


def test_cuda_n_without_a_gpu_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BadInput, match="sees no CUDA GPU here"):
        devices.resolve("cuda:0")
    with pytest.raises(BadInput, match="use auto, cpu, cuda, cuda:N or mps"):
        devices.resolve("gpu1")


@pytest.mark.parametrize("args", [["--device", "cuda:2"], ["--set", "run.device=cuda:7"]])
def test_run_refuses_a_gpu_that_is_not_here_before_writing(two_gpus, tmp_path, args):
    out = tmp_path / "runs"
    res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(out), *args])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
    assert "this machine has 2 CUDA GPUs: cuda:0 (Fake H100 #0), cuda:1 (Fake H100 #1)" in res.stderr
    assert not list(out.glob("*.zarr"))


def test_a_device_name_that_is_no_device_is_refused_as_bad_input(tmp_path):
    for args in (["--device", "cuda:x"], ["--device", "gpu:1"], ["--set", "run.device=cuda1"]):
        res = runner.invoke(app, ["run", "quickstart", "--no-ui", "--out", str(tmp_path), *args])
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, (args, res.output)
        assert "not known" in res.stderr


def test_the_gpu_is_in_the_provenance_and_read_back(two_gpus):
    gpu = devices.gpu_info(torch.device("cuda:1"))
    assert gpu == {"index": 1, "name": "Fake H100 #1", "memory_total_bytes": 80 * GiB}
    assert devices.memory_in_use(torch.device("cuda:1")) == (3 * GiB) // 2
    assert devices.gpu_info(torch.device("cpu")) == {} and devices.memory_in_use(torch.device("cpu")) is None
    preset = {"run": {"seed": 0}, "dynamics": {"kind": "sgd"}}
    r = RunStarted("q", preset, 10, 100, "cuda:1", [], [0, 1], 2, gpu=gpu)
    attrs = codec.started_attrs(r)
    assert attrs["device"] == "cuda:1" and attrs["gpu"] == gpu
    assert codec.run_started(json.loads(json.dumps(attrs))).gpu == gpu  # through the store's JSON
    assert codec.started_attrs(RunStarted("q", preset, 10, 100, "cpu", [], [0, 1], 2))["gpu"] is None


def test_the_heartbeat_carries_the_gpu_and_ps_shows_it(two_gpus, tmp_path):
    """A run's control channel notes the device from RunStarted and the memory from StepLogged;
    ps (table and --json) reads them from process.json."""
    store = tmp_path / "runs" / "q.zarr"
    store.parent.mkdir()
    gpu = devices.gpu_info(torch.device("cuda:1"))
    run = SimpleNamespace(step=0, total_steps=100, preset=SimpleNamespace(run=SimpleNamespace(name="q"), name="q",
                                                                          dynamics=SimpleNamespace(kind="sgd")))
    channel = control.ControlChannel.__new__(control.ControlChannel)  # the sink alone: no thread, no files
    channel.info, channel._settled, channel._switches, channel._stops = {}, [], [], []
    channel._announce, channel._wake = False, SimpleNamespace(set=lambda: None)
    channel.run = run
    channel.handle(RunStarted("q", {"run": {"seed": 0}}, 10, 100, "cuda:1", [], [0, 1], 100, gpu=gpu))
    channel.handle(StepLogged(5, 0.5, 100.0, 1.0, devices.memory_in_use(torch.device("cuda:1"))))
    assert channel.info["device"] == "cuda:1" and channel.info["gpu"] == gpu
    assert channel.info["gpu_memory_bytes"] == (3 * GiB) // 2
    info = {**channel.info, "pid": os.getpid(), "start": process_start(os.getpid()), "host": socket.gethostname(),
            "heartbeat": 1e12, "total": 100, "name": "q"}
    control.write_json(control.make_dir(store) / "process.json", info)
    row = live.describe(store)
    assert row.device == "cuda:1" and row.gpu["memory_allocated_bytes"] == (3 * GiB) // 2
    res = runner.invoke(app, ["ps", str(store.parent)], env={"COLUMNS": "200"})
    assert "cuda:1 Fake H100 #1 1.5/80.0 GiB" in res.stdout, res.output
    [j] = json.loads(runner.invoke(app, ["ps", "--json", str(store.parent)]).stdout)["runs"]
    assert j["device"] == "cuda:1" and j["gpu"] == {**gpu, "memory_allocated_bytes": (3 * GiB) // 2}


def test_device_text_and_the_status_lines():
    gpu = {"index": 1, "name": "Fake H100 #1", "memory_total_bytes": 80 * GiB}
    assert device_text("cpu") == "cpu" and device_text("", None) == "-"
    assert device_text("cuda:1", gpu, (3 * GiB) // 2) == "cuda:1 Fake H100 #1 1.5/80.0 GiB"
    assert device_text("cuda:1", gpu) == "cuda:1 Fake H100 #1 80.0 GiB"  # use unknown: the card's size
    from rich.console import Console

    from glasslab.tui.console.curves import RunCurves
    from glasslab.tui.printer import HeadlessPrinter

    c = RunCurves("q")
    c.apply(RunStarted("q", {"run": {"seed": 0}, "dynamics": {"kind": "sgd"}}, 10, 100, "cuda:1", [], [0, 1], 100,
                       gpu=gpu))
    c.apply(StepLogged(5, 0.5, 100.0, 1.0, (3 * GiB) // 2))
    assert (c.gpu, c.gpu_memory_bytes) == (gpu, (3 * GiB) // 2)
    console = Console(width=200, file=io.StringIO())
    printer = HeadlessPrinter(console=console, plain=True, every_s=0.0)
    printer.handle(RunStarted("q", {"run": {"seed": 0}}, 10, 100, "cuda:1", [], [0, 1], 100, gpu=gpu))
    printer.handle(StepLogged(5, 0.5, 100.0, 1.0, (3 * GiB) // 2))
    text = console.file.getvalue()
    assert "device cuda:1 Fake H100 #1 80.0 GiB" in text and "gpu 1.5 GiB" in text, text


async def test_the_consoles_status_line_shows_the_gpu_and_its_memory():
    from textual.app import App

    from glasslab.tui.console.curves import RunCurves
    from glasslab.tui.console.widgets.status_line import StatusLine

    from support.pilot import text_of

    gpu = {"index": 1, "name": "Fake H100 #1", "memory_total_bytes": 80 * GiB}
    c = RunCurves("q")
    c.apply(RunStarted("q", {"run": {"seed": 0}, "dynamics": {"kind": "sgd"}}, 10, 100, "cuda:1", [], [0, 1], 100,
                       gpu=gpu))
    c.apply(StepLogged(5, 0.5, 100.0, 1.0, (3 * GiB) // 2))

    class One(App):
        def compose(self):
            yield StatusLine()

    async with One().run_test(size=(160, 10)) as pilot:
        line = pilot.app.query_one(StatusLine)
        line.show(c)
        await pilot.pause()
        assert "cuda:1 Fake H100 #1 1.5/80.0 GiB" in text_of(line)
