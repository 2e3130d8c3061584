import pytest

from tools.parsers.uname import parse_uname


@pytest.mark.parametrize(
    ("text", "release", "version", "family", "arch", "hostname"),
    [
        ("Linux ip-10-0-12-34.us-west-2.compute.internal 4.14.343-261.564.amzn2.x86_64 #1 SMP Tue Apr 23 "
         "20:32:19 UTC 2024 x86_64 x86_64 x86_64 GNU/Linux\n", "4.14.343-261.564.amzn2.x86_64", (4, 14, 343), "AL2",
         "x86_64", "ip-10-0-12-34.us-west-2.compute.internal"),
        ("Linux ip-10-0-12-34.us-west-2.compute.internal 5.10.215-203.850.amzn2.x86_64 #1 SMP Tue Apr 23 "
         "20:32:19 UTC 2024 x86_64 x86_64 x86_64 GNU/Linux", "5.10.215-203.850.amzn2.x86_64", (5, 10, 215), "AL2",
         "x86_64", "ip-10-0-12-34.us-west-2.compute.internal"),
        ("Linux ip-10-0-1-2.ec2.internal 6.1.94-99.176.amzn2023.aarch64 #1 SMP PREEMPT_DYNAMIC Tue Jun 18 "
         "14:57:56 UTC 2024 aarch64 GNU/Linux", "6.1.94-99.176.amzn2023.aarch64", (6, 1, 94), "AL2023", "aarch64",
         "ip-10-0-1-2.ec2.internal"),
        ("Linux ip-10-0-1-2 6.12.40-63.114.amzn2023.x86_64 #1 SMP PREEMPT_DYNAMIC Mon Jul 21 2025 x86_64 GNU/Linux",
         "6.12.40-63.114.amzn2023.x86_64", (6, 12, 40), "AL2023", "x86_64", "ip-10-0-1-2"),
        ("Linux node1 5.15.0-1051-aws #56~20.04.1-Ubuntu SMP Thu Nov 16 15:59:26 UTC 2023 x86_64 x86_64 x86_64 "
         "GNU/Linux", "5.15.0-1051-aws", (5, 15, 0), "other", "x86_64", "node1"),
        ("Linux br 6.1.90 #1 SMP Fri May 10 2024 aarch64 GNU/Linux", "6.1.90", (6, 1, 90), "other", "aarch64", "br"),
        # bare `uname -r`: arch from the release suffix
        ("5.10.215-203.850.amzn2.x86_64\n", "5.10.215-203.850.amzn2.x86_64", (5, 10, 215), "AL2", "x86_64", None),
        ("\n\nLinux h 4.14 #1 SMP", "4.14", (4, 14, 0), "other", None, "h"),
    ],
)
def test_uname_forms(text, release, version, family, arch, hostname) -> None:
    parsed = parse_uname(text)
    assert parsed is not None
    assert (parsed.kernel_release, parsed.version, parsed.family, parsed.arch, parsed.hostname) == (
        release, version, family, arch, hostname,
    )


def test_version_tuple_orders_kernels() -> None:
    old = parse_uname("5.10.215-203.850.amzn2.x86_64")
    new = parse_uname("6.1.94-99.176.amzn2023.x86_64")
    assert old is not None and new is not None
    assert old.version < (5, 15, 0) <= new.version


@pytest.mark.parametrize("text", ["", "\n", "uname: command not found", "Linux", "Linux host notaversion #1", "\ufffd"])
def test_not_uname(text: str) -> None:
    assert parse_uname(text) is None
