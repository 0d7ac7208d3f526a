"""Two sweeps started into one directory (issue 21, item 5): the "already a sweep?" check ran outside
the manifest's lease, so the second sweep's manifest replaced the first's.  The race is made
deterministic: the first creation pauses inside its write, holding the lease."""

from __future__ import annotations

import threading

from glasslab.core.errors import BadInput
from glasslab.core.sweep import manifest


def test_the_second_of_two_racing_sweeps_is_refused(tmp_path, monkeypatch):
    real_write, real_lease = manifest._write, manifest.lease
    writing, go, entering = threading.Event(), threading.Event(), threading.Event()

    def write(d, m):
        if m["name"] == "first":
            writing.set()
            assert go.wait(60)
        real_write(d, m)

    def lease(d):
        if threading.current_thread().name == "second":
            entering.set()
        return real_lease(d)

    monkeypatch.setattr(manifest, "_write", write)
    monkeypatch.setattr(manifest, "lease", lease)
    errors = {}

    def create(name):
        try:
            manifest.create(tmp_path, {"name": name, "points": []})
        except BadInput as err:
            errors[name] = str(err)

    first = threading.Thread(target=create, args=("first",), name="first")
    first.start()
    assert writing.wait(60)  # the first holds the lease, its manifest not yet written
    second = threading.Thread(target=create, args=("second",), name="second")
    second.start()
    assert entering.wait(60)  # the second has made its check (before) or waits for the lease (now)
    go.set()
    first.join(60)
    second.join(60)
    assert manifest.read(tmp_path)["name"] == "first"
    assert errors == {"second": f"{tmp_path} already holds a sweep (glasslab sweep status {tmp_path})"}
