"""Manifest facts: only what parses is recorded; hashes stream; lookups by path and logical path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tools.bundle.errors import BundleError
from tools.bundle.manifest import (
    build_manifest,
    content_digest,
    find_bundle_root,
    read_cluster,
    read_kernel,
    sha256_file,
)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def manifest(root: Path):
    return build_manifest(root, instance_id="i-0123456789abcdef0", source=str(root), source_kind="dir")


def test_sha256_streams_files_larger_than_one_chunk(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "big").write_bytes(data)
    assert sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_content_digest_ignores_order_and_sees_renames():
    pairs = [("a", "1" * 64), ("b", "2" * 64)]
    assert content_digest(pairs) == content_digest(list(reversed(pairs)))
    assert content_digest(pairs) != content_digest([("a", "1" * 64), ("c", "2" * 64)])
    assert content_digest([("ab", "1" * 64)]) != content_digest([("a", "b" + "1" * 63)])


@pytest.mark.parametrize(
    ("args", "cluster"),
    [
        ('["--region", "us-west-2", "eks", "get-token", "--cluster-name", "prod-a"]', "prod-a"),
        ('["eks", "get-token", "--cluster-name=prod_b"]', "prod_b"),
        ('["token", "-i", "legacy-cluster", "--region", "us-east-1"]', "legacy-cluster"),
        ('["token", "--cluster-id", "cid-1"]', "cid-1"),
        ('["eks", "get-token", "--cluster-name", "{{CLUSTER_NAME}}"]', None),
        ('["eks", "get-token", "--cluster-name"]', None),
    ],
)
def test_cluster_from_kubeconfig_exec_args(tmp_path, args, cluster):
    write(
        tmp_path,
        "kubelet/kubeconfig.yaml",
        "clusters:\n- cluster:\n    server: https://X.gr7.us-west-2.eks.amazonaws.com\n  name: kubernetes\n"
        f"users:\n- name: kubelet\n  user:\n    exec:\n      command: aws\n      args: {args}\n",
    )
    assert read_cluster(tmp_path) == (cluster, "https://X.gr7.us-west-2.eks.amazonaws.com")


def test_cluster_from_arn_named_cluster_and_current_context_server(tmp_path):
    write(
        tmp_path,
        "kubelet/kubeconfig.yaml",
        """
clusters:
- name: other
  cluster: {server: "https://other.example"}
- name: arn:aws:eks:us-west-2:123456789012:cluster/from-arn
  cluster: {server: "https://right.example"}
contexts:
- name: ctx
  context: {cluster: "arn:aws:eks:us-west-2:123456789012:cluster/from-arn", user: u}
current-context: ctx
users:
- name: u
  user: {token: abc}
""",
    )
    assert read_cluster(tmp_path) == ("from-arn", "https://right.example")


@pytest.mark.parametrize(
    "text", ["", "{{{ not yaml", "- just\n- a list\n", "clusters: 5\nusers: nope\n", "server: http://plain\n"]
)
def test_unusable_kubeconfig_gives_nothing(tmp_path, text):
    write(tmp_path, "kubelet/kubeconfig.yaml", text)
    assert read_cluster(tmp_path) == (None, None)


def test_missing_kubeconfig_and_uname(tmp_path):
    assert read_cluster(tmp_path) == (None, None)
    assert read_kernel(tmp_path) == (None, None)


def test_kernel_release_from_uname(tmp_path):
    write(tmp_path, "kernel/uname.txt", "Linux ip-10-0-1-1.ec2.internal 6.1.132-147.221.amzn2023.x86_64 #1 SMP x86_64 GNU/Linux\n")
    release, family = read_kernel(tmp_path)
    assert release == "6.1.132-147.221.amzn2023.x86_64"
    assert family in (None, "AL2023")  # the family needs tools.parsers.uname, when present


def test_region_and_zone_only_when_they_parse(tmp_path):
    write(tmp_path, "kernel/uname.txt", "Linux h 5.10.1 #1\n")
    write(tmp_path, "system/region.txt", "<?xml version='1.0'?><Error>Unauthorized</Error>\n")
    write(tmp_path, "system/availability-zone.txt", "\n  us-east-1-bos-1a  \n")
    m = manifest(tmp_path)
    assert m.region is None and m.availability_zone == "us-east-1-bos-1a"


def test_links_out_of_the_bundle_are_not_read_or_listed(tmp_path):
    outside = write(tmp_path, "outside/secret.txt", "us-west-2\n")
    root = tmp_path / "bundle"
    write(root, "kernel/uname.txt", "Linux h 5.10.1 #1\n")
    (root / "system").mkdir()
    (root / "system/region.txt").symlink_to(outside)
    m = manifest(root)
    assert m.region is None
    assert [f.path for f in m.files] == ["kernel/uname.txt"]


def test_manifest_lookup_and_rotation(tmp_path):
    for rel in ("var_log/messages", "var_log/messages.1", "var_log/messages.2.gz", "kernel/dmesg.current"):
        write(tmp_path, rel, "x\n")
    m = manifest(tmp_path)
    assert m.has("var_log/messages") and m.has("var_log/messages.2.gz") and m.has("./kernel/dmesg.current")
    assert m.has("kernel/") and not m.has("kern") and not m.has("networking/")
    assert [(f.path, f.rotation) for f in m.generations("var_log/messages")] == [
        ("var_log/messages", 0), ("var_log/messages.1", 1), ("var_log/messages.2.gz", 2),
    ]
    assert m.total_size == 8 and m.collected_at_source == "newest file mtime"


def test_explicit_collection_time_without_timezone_is_utc(tmp_path):
    from datetime import UTC, datetime

    write(tmp_path, "kernel/uname.txt", "Linux h 5.10.1 #1\n")
    m = build_manifest(
        tmp_path, instance_id="i-0123abcd", source="x", source_kind="dir", collected_at=datetime(2026, 7, 30, 14, 12)
    )
    assert m.collected_at == datetime(2026, 7, 30, 14, 12, tzinfo=UTC) and m.collected_at_source == "archive name"


def test_bundle_root_detection(tmp_path):
    (tmp_path / "flat" / "sysctls").mkdir(parents=True)
    assert find_bundle_root(tmp_path / "flat") == tmp_path / "flat"
    (tmp_path / "wrapped" / "eks_x" / "networking").mkdir(parents=True)
    (tmp_path / "wrapped" / ".DS_Store").write_text("")
    assert find_bundle_root(tmp_path / "wrapped") == tmp_path / "wrapped" / "eks_x"
    (tmp_path / "deep" / "a" / "b" / "kernel").mkdir(parents=True)
    with pytest.raises(BundleError, match="found: a/"):
        find_bundle_root(tmp_path / "deep")  # only one level is unwrapped
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "kernel").symlink_to(tmp_path / "flat" / "sysctls")
    with pytest.raises(BundleError, match="not a bundle"):
        find_bundle_root(tmp_path / "linked")  # a layout folder that is a link does not count
    with pytest.raises(BundleError, match="not a directory"):
        find_bundle_root(tmp_path / "flat" / "nope")
