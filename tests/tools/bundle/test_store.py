"""The bundle store: ingest (archive and directory), instance keys, idempotence, lookup, safety."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.bundle.errors import BundleError
from tools.bundle.store import (
    BundleStore,
    collected_at_from_name,
    default_store_home,
    instance_id_from_name,
)

ID_A = "i-0123456789abcdef0"
ID_B = "i-0fedcba9876543210"
ID_C = "i-0aaaaaaaaaaaaaaaa"
STAMP = "2026-07-30_1412-UTC"
UNAME = "Linux ip-10-0-1-23.us-west-2.compute.internal 5.10.236-227.928.amzn2.x86_64 #1 SMP Wed Apr 2 2025 x86_64 x86_64 x86_64 GNU/Linux\n"
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /etc/kubernetes/pki/ca.crt
    server: https://ABCDEF0123456789.gr7.us-west-2.eks.amazonaws.com
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubelet
  name: kubelet
current-context: kubelet
users:
- name: kubelet
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args:
      - --region
      - us-west-2
      - eks
      - get-token
      - --cluster-name
      - prod-payments
"""
FIXED_MTIME = 1_785_000_000  # 2026-07-25T17:20:00Z


def make_bundle(path: Path, instance_id: str | None = ID_A, extra: str = "") -> Path:
    """A small bundle in the collector's layout, with a rotated gzip log and fixed mtimes."""
    files = {
        "kernel/uname.txt": UNAME,
        "kernel/dmesg.current": "[104235.156774] nf_conntrack: nf_conntrack: table full, dropping packet\n" + extra,
        "system/region.txt": "us-west-2\n",
        "system/availability-zone.txt": "us-west-2b\n",
        "kubelet/kubeconfig.yaml": KUBECONFIG,
        "sysctls/sysctl_all.txt": "net.netfilter.nf_conntrack_count = 262144\nnet.netfilter.nf_conntrack_max = 262144\n",
        "var_log/messages": "Jul 30 14:02:11 ip kernel: nf_conntrack: table full, dropping packet\n",
    }
    if instance_id is not None:
        files["system/instance-id.txt"] = instance_id + "\n"
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    (path / "var_log/messages.1.gz").write_bytes(gzip.compress(b"Jul 29 older line\n", mtime=0))
    (path / "docker").mkdir()
    for p in path.rglob("*"):
        os.utime(p, (FIXED_MTIME, FIXED_MTIME))
    return path


def tar_bundle(bundle: Path, archive: Path) -> Path:
    """Like the collector: `tar --create --gzip --directory=<bundle> .` (members start with ./)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bundle, arcname=".")
    return archive


def archive_name(instance_id: str = ID_A, stamp: str = STAMP) -> str:
    return f"eks_{instance_id}_{stamp}_0.7.9.tar.gz"


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def store(tmp_path: Path) -> BundleStore:
    return BundleStore(tmp_path / "home" / "bundles")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    return d


def test_ingest_collector_tarball(store, src):
    archive = tar_bundle(make_bundle(src / "b" ), src / archive_name())
    rec = store.ingest(archive)
    m = rec.manifest
    assert rec.instance_id == ID_A == m.instance_id and rec.instance_id_source == "system/instance-id.txt"
    assert m.source_kind == "tar.gz" and m.source == str(archive)
    assert m.collected_at == datetime(2026, 7, 30, 14, 12, tzinfo=UTC) and m.collected_at_source == "archive name"
    assert (m.region, m.availability_zone) == ("us-west-2", "us-west-2b")
    assert m.cluster == "prod-payments"
    assert m.cluster_server == "https://ABCDEF0123456789.gr7.us-west-2.eks.amazonaws.com"
    assert m.kernel_release == "5.10.236-227.928.amzn2.x86_64"
    # files: relative paths, real hashes and sizes, rotation marked
    by_path = {f.path: f for f in m.files}
    uname = by_path["kernel/uname.txt"]
    assert uname.sha256 == hashlib.sha256(UNAME.encode()).hexdigest() and uname.size == len(UNAME)
    rotated = by_path["var_log/messages.1.gz"]
    assert (rotated.logical, rotated.rotation) == ("var_log/messages", 1)
    assert m.total_size == sum((rec.root / f.path).stat().st_size for f in m.files)
    assert m.has("var_log/messages") and m.has("./kernel/uname.txt") and m.has("sysctls/")
    assert not m.has("networking/ethtool.txt") and not m.has("networking/")
    assert [f.path for f in m.generations("var_log/messages")] == ["var_log/messages", "var_log/messages.1.gz"]
    # layout on disk
    assert rec.root == store.home / ID_A / rec.digest[:16] / "extracted"
    assert (rec.root / "kernel/uname.txt").read_text() == UNAME
    assert rec.cache_dir.is_dir() and os.access(rec.cache_dir, os.W_OK)
    assert json.loads((rec.root.parent / "record.json").read_text())["digest"] == rec.digest
    assert len(rec.digest) == 64


def test_digest_is_over_sorted_path_and_hash_pairs(store, src):
    rec = store.ingest(make_bundle(src / "b"))
    expected = hashlib.sha256()
    for path in sorted(f.path for f in rec.manifest.files):
        expected.update(path.encode() + b"\0" + hashlib.sha256((rec.root / path).read_bytes()).hexdigest().encode() + b"\n")
    assert rec.digest == expected.hexdigest()


def test_directory_bundle_is_registered_by_reference(store, src):
    bundle = make_bundle(src / "node-dump")
    rec = store.ingest(bundle)
    assert rec.root == bundle.resolve() and rec.manifest.source_kind == "dir"
    record_dir = store.home / ID_A / rec.digest[:16]
    assert tree(record_dir) == {"record.json", "cache"}  # no copy of the bundle's files
    assert rec.manifest.collected_at == datetime.fromtimestamp(FIXED_MTIME, tz=UTC)
    assert rec.manifest.collected_at_source == "newest file mtime"


def test_wrapped_directory_is_unwrapped_and_named_by_its_folder(store, src):
    inner = src / "download" / f"eks_{ID_B}_{STAMP}_0.7.9"
    inner.mkdir(parents=True)
    make_bundle(inner, instance_id=None)
    rec = store.ingest(src / "download")
    assert rec.root == inner.resolve()
    assert rec.instance_id == ID_B and rec.instance_id_source == "directory name"
    assert rec.manifest.collected_at == datetime(2026, 7, 30, 14, 12, tzinfo=UTC)
    assert rec.manifest.collected_at_source == "directory name"


def test_wrapped_tarball_is_unwrapped(store, src):
    inner = src / "x" / "eks_bundle"
    inner.mkdir(parents=True)
    make_bundle(inner)
    archive = src / "wrapped.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(inner, arcname="eks_bundle")
    rec = store.ingest(archive)
    assert rec.root.name == "eks_bundle" and (rec.root / "kernel/uname.txt").is_file()
    assert rec.manifest.has("kernel/uname.txt")


# ------------------------------------------------------------------------------ instance ids


def test_instance_id_file_beats_archive_name(store, src):
    archive = tar_bundle(make_bundle(src / "b", instance_id=ID_A), src / archive_name(ID_B))
    rec = store.ingest(archive)
    assert rec.instance_id == ID_A
    assert any(ID_B in n and "instance-id.txt" in n for n in rec.notes)


def test_archive_name_when_no_instance_id_file(store, src):
    rec = store.ingest(tar_bundle(make_bundle(src / "b", instance_id=None), src / archive_name(ID_B)))
    assert (rec.instance_id, rec.instance_id_source) == (ID_B, "archive name")


def test_argument_when_the_bundle_names_no_instance(store, src):
    rec = store.ingest(tar_bundle(make_bundle(src / "b", instance_id=None), src / "dump.tar.gz"), instance_id=ID_C)
    assert (rec.instance_id, rec.instance_id_source) == (ID_C, "argument")
    assert rec.manifest.collected_at_source == "newest file mtime"


def test_agreeing_argument_is_accepted(store, src):
    archive = tar_bundle(make_bundle(src / "b", instance_id=ID_A), src / "dump.tar.gz")
    assert store.ingest(archive, instance_id=ID_A).instance_id == ID_A


@pytest.mark.parametrize("where", ["file", "name"])
def test_conflicting_argument_is_an_error_naming_both(store, src, where):
    bundle = make_bundle(src / "b", instance_id=ID_A if where == "file" else None)
    archive = tar_bundle(bundle, src / (archive_name(ID_A) if where == "name" else "dump.tar.gz"))
    with pytest.raises(BundleError) as info:
        store.ingest(archive, instance_id=ID_B)
    assert ID_A in str(info.value) and ID_B in str(info.value) and str(archive) in str(info.value)
    assert store.list() == [] and list(store.home.iterdir()) == []


def test_conflicting_argument_on_reingest_is_still_an_error(store, src):
    archive = tar_bundle(make_bundle(src / "b"), src / archive_name())
    store.ingest(archive)
    with pytest.raises(BundleError, match=ID_B):
        store.ingest(archive, instance_id=ID_B)


def test_no_instance_id_anywhere(store, src):
    archive = tar_bundle(make_bundle(src / "b", instance_id=None), src / "dump.tar.gz")
    with pytest.raises(BundleError) as info:
        store.ingest(archive)
    assert "cannot tell which instance" in str(info.value) and "--instance" in (info.value.hint or "")
    assert list(store.home.iterdir()) == []


def test_garbage_instance_id_file_is_ignored_not_trusted(store, src):
    bundle = make_bundle(src / "b", instance_id=None)
    (bundle / "system/instance-id.txt").write_text("<html><body>401 Unauthorized</body></html>\n")
    rec = store.ingest(tar_bundle(bundle, src / archive_name(ID_B)))
    assert rec.instance_id == ID_B
    assert any("not an instance id" in n for n in rec.notes)


@pytest.mark.parametrize("bad", ["i-0123", "I-0123456789ABCDEF0", "i-0123456789abcdef0x", "node-1", ""])
def test_invalid_explicit_ids_are_refused(store, src, bad):
    bundle = make_bundle(src / "b", instance_id=None)
    with pytest.raises(BundleError, match="not an EC2 instance id"):
        store.ingest(bundle, instance_id=bad)


def test_hybrid_and_short_ids_are_valid(store, src):
    hybrid = "mi-0123456789abcdef0"
    assert store.ingest(make_bundle(src / "h", instance_id=hybrid)).instance_id == hybrid
    assert store.ingest(make_bundle(src / "s", instance_id="i-0123abcd")).instance_id == "i-0123abcd"


def test_instance_id_from_name():
    assert instance_id_from_name(f"eks_{ID_A}_{STAMP}_0.7.9.tar.gz") == ID_A
    assert instance_id_from_name(f"/var/log/eks_{ID_A}_{STAMP}_0.7.9.tar.gz") == ID_A
    assert instance_id_from_name(f"eks_{ID_A}_{STAMP}_0.7.9") == ID_A  # extracted directory
    assert instance_id_from_name("eks_i-0123abcd_2026-07-30_1412-UTC_0.7.9.tgz") == "i-0123abcd"
    assert instance_id_from_name("eks_mi-0123456789abcdef0_exec-1.tar.gz") == "mi-0123456789abcdef0"
    assert instance_id_from_name(f"eks_{ID_A}_0b5e9f0e-exec.zip") == ID_A  # S3 execution-id form
    for bad in ("eks__2026-07-30_1412-UTC_0.7.9.tar.gz", "eks_i-0123456789ABCDEF0_x.tar.gz",
                f"eks_{ID_A}.tar.gz", f"bundle_{ID_A}_{STAMP}.tar.gz", "eks_i-01234_x.tar.gz"):
        assert instance_id_from_name(bad) is None, bad


def test_collected_at_from_name():
    assert collected_at_from_name(archive_name()) == datetime(2026, 7, 30, 14, 12, tzinfo=UTC)
    assert collected_at_from_name(f"eks_{ID_A}_2026-13-40_9999-UTC_0.7.9.tar.gz") is None
    assert collected_at_from_name(f"eks_{ID_A}_exec-1.tar.gz") is None
    assert collected_at_from_name("2026-07-30_1412-UTC.tar.gz") is None


# ------------------------------------------------------------------------- idempotence, change


def test_reingest_of_the_same_tarball_is_a_no_op(store, src):
    archive = tar_bundle(make_bundle(src / "b"), src / archive_name())
    first = store.ingest(archive)
    before = tree(store.home)
    again = store.ingest(archive)
    assert again == first
    assert tree(store.home) == before


def test_same_content_in_a_fresh_archive_gives_the_same_record(store, src):
    bundle = make_bundle(src / "b")
    first_archive = tar_bundle(bundle, src / archive_name())
    first = store.ingest(first_archive)
    (src / "copy").mkdir()
    other = src / "copy" / archive_name()
    with tarfile.open(other, "w:gz", compresslevel=1) as tar:
        tar.add(bundle, arcname=".")
    assert other.read_bytes() != first_archive.read_bytes()
    again = store.ingest(other)
    assert again.digest == first.digest and again.ingested_at == first.ingested_at
    assert len(list((store.home / ID_A).iterdir())) == 2  # .lock + one record


def test_reingest_of_a_known_archive_skips_extraction(store, src, monkeypatch):
    archive = tar_bundle(make_bundle(src / "b"), src / archive_name())
    first = store.ingest(archive)

    def no_extract(*args, **kwargs):
        raise AssertionError("extracted again")

    monkeypatch.setattr("tools.bundle.store.extract_archive", no_extract)
    assert store.ingest(archive) == first
    shutil.rmtree(first.root)  # the record's files are gone: not served, re-extracted instead
    with pytest.raises(AssertionError, match="extracted again"):
        store.ingest(archive)
    monkeypatch.undo()
    repaired = store.ingest(archive)
    assert repaired.digest == first.digest and (repaired.root / "kernel/uname.txt").is_file()


def test_reingest_of_the_same_directory_is_a_no_op(store, src):
    bundle = make_bundle(src / "b")
    first = store.ingest(bundle)
    before = tree(store.home)
    assert store.ingest(bundle) == first
    assert tree(store.home) == before


def test_changed_directory_gets_a_new_digest_and_drops_the_stale_record(store, src):
    bundle = make_bundle(src / "b")
    first = store.ingest(bundle)
    (bundle / "kernel/dmesg.current").write_text("changed\n")
    second = store.ingest(bundle)
    assert second.digest != first.digest
    assert [r.digest for r in store.list()] == [second.digest]
    assert any("content changed" in n for n in second.notes)
    assert bundle.is_dir() and (bundle / "kernel/uname.txt").is_file()  # the bundle itself untouched


def test_changed_tarball_gets_a_new_digest_and_both_are_kept(store, src):
    first = store.ingest(tar_bundle(make_bundle(src / "a"), src / archive_name(stamp="2026-07-30_1412-UTC")))
    second = store.ingest(
        tar_bundle(make_bundle(src / "b", extra="more\n"), src / archive_name(stamp="2026-07-30_1500-UTC"))
    )
    assert second.digest != first.digest
    assert {r.digest for r in store.list()} == {first.digest, second.digest}


# ------------------------------------------------------------------------------------- lookup


def test_get_returns_latest_by_collection_time_not_ingest_order(store, src):
    newer = store.ingest(tar_bundle(make_bundle(src / "n"), src / archive_name(stamp="2026-07-30_1412-UTC")))
    older = store.ingest(
        tar_bundle(make_bundle(src / "o", extra="old\n"), src / archive_name(stamp="2026-07-29_0900-UTC"))
    )
    assert older.ingested_at >= newer.ingested_at
    assert store.get(ID_A).digest == newer.digest
    assert [r.digest for r in store.list()] == [newer.digest, older.digest]


def test_collection_time_ties_go_to_the_latest_ingest(store, src):
    a = store.ingest(tar_bundle(make_bundle(src / "a"), src / "a.tar.gz"))
    b = store.ingest(tar_bundle(make_bundle(src / "b", extra="x\n"), src / "b.tar.gz"))
    assert a.manifest.collected_at == b.manifest.collected_at
    assert store.get(ID_A).digest == b.digest


def test_list_instances_and_get_digest(store, src):
    ra = store.ingest(make_bundle(src / "a", instance_id=ID_A))
    rb = store.ingest(make_bundle(src / "b", instance_id=ID_B))
    assert store.instances() == sorted([ID_A, ID_B])
    assert {r.digest for r in store.list()} == {ra.digest, rb.digest}
    assert store.get_digest(rb.digest) == rb
    assert store.get_digest(rb.digest[:12]).instance_id == ID_B
    with pytest.raises(BundleError, match="no bundle with digest"):
        store.get_digest("0" * 64 if not ra.digest.startswith("0" * 8) else "f" * 64)
    with pytest.raises(BundleError, match="not a bundle digest"):
        store.get_digest("xyz")


def test_get_unknown_instance_hints_at_collect(store):
    with pytest.raises(BundleError) as info:
        store.get(ID_A)
    assert ID_A in str(info.value) and info.value.code == "not_found"
    assert "collect" in (info.value.hint or "") and "--bundle" in (info.value.hint or "")
    with pytest.raises(BundleError, match="not an EC2 instance id"):
        store.get("../etc")
    assert store.list() == [] and store.instances() == []


def test_records_survive_a_new_store_object_and_a_moved_home(tmp_path, src):
    home = tmp_path / "h1"
    rec = BundleStore(home).ingest(tar_bundle(make_bundle(src / "b"), src / archive_name()))
    assert BundleStore(home).get(ID_A) == rec
    moved = tmp_path / "h2"
    home.rename(moved)
    again = BundleStore(moved).get(ID_A)
    assert again.root == moved / ID_A / rec.digest[:16] / "extracted" and again.root.is_dir()
    assert again.cache_dir == moved / ID_A / rec.digest[:16] / "cache"


def test_deleted_directory_bundle_is_reported_not_served(store, src):
    bundle = make_bundle(src / "b")
    store.ingest(bundle)
    shutil.rmtree(bundle)
    with pytest.raises(BundleError, match="files are gone"):
        store.get(ID_A)


def test_damaged_record_is_skipped_and_repaired_by_reingest(store, src):
    bundle = make_bundle(src / "b")
    rec = store.ingest(bundle)
    (store.home / ID_A / rec.digest[:16] / "record.json").write_text("{not json")
    assert store.list() == []
    assert store.ingest(bundle).digest == rec.digest
    assert store.get(ID_A).digest == rec.digest


# -------------------------------------------------------------------------------- store home


def test_default_store_home():
    assert default_store_home({"SOPGRAPH_HOME": "/srv/sop"}) == Path("/srv/sop/bundles")
    assert default_store_home({"HOME": "/home/ops"}) == Path("/home/ops/.sopgraph/bundles")
    assert default_store_home({"HOME": "/home/ops", "SOPGRAPH_HOME": ""}) == Path("/home/ops/.sopgraph/bundles")


def test_sopgraph_home_env_is_used_by_default(tmp_path, src, monkeypatch):
    monkeypatch.setenv("SOPGRAPH_HOME", str(tmp_path / "sg"))
    store = BundleStore()
    assert store.home == tmp_path / "sg" / "bundles"
    rec = store.ingest(make_bundle(src / "b"))
    assert rec.cache_dir.is_relative_to(tmp_path / "sg" / "bundles")
    explicit = BundleStore(tmp_path / "other")
    assert explicit.home == tmp_path / "other" and explicit.list() == []


# ------------------------------------------------------------------------- failures leave nothing


def evil_tar(path: Path) -> Path:
    import io

    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("./kernel/uname.txt", b"Linux\n"), ("../../escaped.txt", b"pwned\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "case", ["traversal", "not-gzip", "no-layout", "only-empty-dirs", "conflict", "truncated", "zip-symlink"]
)
def test_failed_ingest_leaves_nothing_in_the_store_or_outside(tmp_path, src, case):
    store = BundleStore(tmp_path / "home" / "bundles")
    explicit = None
    if case == "traversal":
        source = evil_tar(src / archive_name())
    elif case == "not-gzip":
        source = src / archive_name()
        source.write_text("not an archive")
    elif case == "no-layout":
        (src / "x").mkdir()
        (src / "x" / "readme.txt").write_text("hello")
        source = tar_bundle(src / "x", src / archive_name())
    elif case == "only-empty-dirs":
        for d in ("kernel", "system"):
            (src / "e" / d).mkdir(parents=True)
        source = tar_bundle(src / "e", src / archive_name())
    elif case == "conflict":
        source, explicit = tar_bundle(make_bundle(src / "b"), src / archive_name()), ID_B
    elif case == "truncated":
        good = tar_bundle(make_bundle(src / "b"), src / "good.tar.gz")
        source = src / archive_name()
        source.write_bytes(good.read_bytes()[:200])
    else:
        source = src / "b.zip"
        with zipfile.ZipFile(source, "w") as zf:
            zf.writestr("kernel/uname.txt", "Linux\n")
            info = zipfile.ZipInfo("kernel/evil")
            info.external_attr = (0o120777) << 16
            zf.writestr(info, "/etc/passwd")
    before = tree(tmp_path)
    with pytest.raises(BundleError) as err:
        store.ingest(source, instance_id=explicit)
    assert str(source) in str(err.value)
    assert ".ingest-" not in str(err.value)  # errors name the archive, not our temp dir
    after = tree(tmp_path)
    assert after - before <= {"home", "home/bundles"}, after - before
    assert not (tmp_path / "home" / "bundles").exists() or list((tmp_path / "home" / "bundles").iterdir()) == []
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_successful_ingest_writes_only_inside_the_store(tmp_path, src):
    archive = tar_bundle(make_bundle(src / "b"), src / archive_name())
    before = tree(tmp_path)
    BundleStore(tmp_path / "home" / "bundles").ingest(archive)
    new = tree(tmp_path) - before
    assert new and all(p.startswith("home/") or p == "home" for p in new)


def test_empty_directory_and_directory_without_layout(store, src):
    (src / "empty").mkdir()
    with pytest.raises(BundleError, match="empty") as info:
        store.ingest(src / "empty")
    assert "kernel/" in (info.value.hint or "")
    (src / "random" / "photos").mkdir(parents=True)
    (src / "random" / "notes.txt").write_text("x")
    with pytest.raises(BundleError) as info:
        store.ingest(src / "random")
    text = str(info.value)
    assert "kernel/, networking/, sysctls/, var_log/, system/" in text and "notes.txt" in text and "photos/" in text
    with pytest.raises(BundleError, match="no such file"):
        store.ingest(src / "does-not-exist")
    assert not store.home.exists()


def test_zip_bundle_ingest(store, src):
    bundle = make_bundle(src / "b")
    archive = src / f"eks_{ID_A}_{STAMP}_0.7.9.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(bundle).as_posix())
    rec = store.ingest(archive)
    assert rec.manifest.source_kind == "zip" and rec.digest == store.ingest(bundle).digest


# --------------------------------------------------------------------------------- concurrency

_INGEST_SCRIPT = """
import sys
from pathlib import Path
from tools.bundle.store import BundleStore
rec = BundleStore(Path(sys.argv[1])).ingest(Path(sys.argv[2]))
print(rec.digest, rec.root)
"""


def test_concurrent_ingest_of_the_same_bundle_makes_one_record(tmp_path, src):
    archive = tar_bundle(make_bundle(src / "b"), src / archive_name())
    home = tmp_path / "home"
    cwd = Path(__file__).resolve().parents[3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _INGEST_SCRIPT, str(home), str(archive)],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    record_dirs = [d for d in (home / ID_A).iterdir() if not d.name.startswith(".")]
    assert len(record_dirs) == 1
    assert not [p for p in home.iterdir() if p.name.startswith(".ingest-")]
    assert BundleStore(home).get(ID_A).root.is_dir()
