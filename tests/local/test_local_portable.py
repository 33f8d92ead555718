"""A portable workspace copy may come from another provider's sandbox: unpacking one on this
host cannot write outside the new workspace, whatever its members say."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from computerouter.errors import ProviderError
from computerouter.providers.local.archive import export_portable, unpack_portable
from computerouter.providers.local.host import probe

NOBODY = 65534


def _member(tar: tarfile.TarFile, name: str, data: bytes = b"x", **kind: object) -> None:
    info = tarfile.TarInfo(name)
    for key, value in kind.items():
        setattr(info, key, value)
    info.size = 0 if kind else len(data)
    tar.addfile(info, None if kind else io.BytesIO(data))


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o777)
    outside.chmod(0o777)  # even a directory the session uid could write to stays untouched
    copy = tmp_path / "hostile.tar.gz"
    with tarfile.open(copy, "w:gz") as tar:
        _member(tar, "./kept.txt", b"fine")
        _member(tar, "../outside/dotdot.txt")
        _member(tar, f"{outside}/absolute.txt")
        _member(tar, "./link", type=tarfile.SYMTYPE, linkname=str(outside))
        _member(tar, "./link/through-link.txt")
        _member(tar, "./.computerouter/runtime/bridge.py", b"another provider's runtime")
    return copy


@pytest.mark.skipif(os.geteuid() != 0, reason="unpacks as another uid")
def test_a_hostile_copy_writes_only_inside_the_workspace(hostile: Path, tmp_path: Path) -> None:
    tools = probe().tools
    workspace = tmp_path / "workspace"
    workspace.mkdir(mode=0o700)
    os.chown(workspace, NOBODY, NOBODY)

    with pytest.raises(ProviderError, match="workspace import failed"):
        unpack_portable(hostile, workspace, tools, uid=NOBODY)

    assert list((tmp_path / "outside").iterdir()) == []
    assert (workspace / "kept.txt").read_bytes() == b"fine"
    assert (workspace / "kept.txt").stat().st_uid == NOBODY
    assert not (workspace / ".computerouter").exists()


def test_a_copy_round_trips_without_the_providers_own_files(tmp_path: Path) -> None:
    tools = probe().tools
    source = tmp_path / "source"
    (source / ".hermes").mkdir(parents=True)
    (source / ".hermes" / "state.db").write_bytes(b"memory")
    (source / ".computerouter" / "runtime").mkdir(parents=True)
    (source / ".computerouter" / "runtime" / "bridge.py").write_text("provider files")
    copy = tmp_path / "copy.tar.gz"

    export_portable(source, copy, tools)
    target = tmp_path / "target"
    target.mkdir()
    unpack_portable(copy, target, tools, uid=None)

    assert (target / ".hermes" / "state.db").read_bytes() == b"memory"
    assert not (target / ".computerouter").exists()
    assert not copy.with_name(copy.name + ".part").exists()
