"""GPU pinning and multi-GPU scheduling logic, on CPU with fake device lists."""

from __future__ import annotations

import pytest

from pytest_falsify import gpu_pinning as G

SMI = """\
GPU 0: NVIDIA H200 (UUID: GPU-aaaaaaaa-0000-0000-0000-000000000000)
GPU 1: NVIDIA H200 (UUID: GPU-bbbbbbbb-1111-1111-1111-111111111111)
  MIG 1g.18gb     Device  0: (UUID: MIG-cccccccc-2222-2222-2222-222222222222)
"""


def test_nvidia_smi_list_gives_index_name_and_uuid_and_skips_mig_lines():
    gpus = G.parse_smi_list(SMI)
    assert [g["index"] for g in gpus] == ["0", "1"]
    assert gpus[1] == {"index": "1", "name": "NVIDIA H200",
                       "uuid": "GPU-bbbbbbbb-1111-1111-1111-111111111111"}


def test_auto_takes_every_available_gpu():
    assert G.resolve("auto", ["0", "1", "2"]) == ["0", "1", "2"]


def test_a_count_takes_the_first_n():
    assert G.resolve("2", ["3", "5", "7"]) == ["3", "5"]


def test_a_count_larger_than_the_host_is_an_error_naming_what_exists():
    with pytest.raises(G.GpuSpecError, match="this host has 1 GPU"):
        G.resolve("2", ["0"])


def test_an_explicit_list_is_kept_in_the_order_given():
    assert G.resolve("1,0", ["0", "1"]) == ["1", "0"]


def test_an_explicit_list_naming_a_missing_gpu_is_an_error():
    with pytest.raises(G.GpuSpecError, match="no GPU 4"):
        G.resolve("0,4", ["0", "1"])


def test_none_turns_pinning_off():
    assert G.resolve("none", ["0", "1"]) == []


@pytest.mark.parametrize("bad", ["0,,1", "0,0"])
def test_malformed_lists_are_errors(bad):
    with pytest.raises(G.GpuSpecError):
        G.resolve(bad, ["0", "1"])


def test_each_worker_sees_its_own_gpu_first():
    gpus = ["0", "1", "2", "3"]
    firsts = [G.worker_view(gpus, k)[0] for k in range(4)]
    assert firsts == ["0", "1", "2", "3"]
    assert G.worker_view(gpus, 2) == ["2", "3", "0", "1"]


def test_workers_beyond_the_gpu_count_share_round_robin():
    gpus = ["0", "1"]
    assert [G.worker_view(gpus, k)[0] for k in range(5)] == ["0", "1", "0", "1", "0"]


def test_every_worker_still_sees_every_gpu_for_multi_gpu_tests():
    gpus = ["0", "1"]
    assert all(sorted(G.worker_view(gpus, k)) == gpus for k in range(4))


def test_no_gpus_means_no_view():
    assert G.worker_view([], 3) == []


@pytest.mark.parametrize("worker, index", [("gw0", 0), ("gw7", 7), (None, 0), ("master", 0)])
def test_worker_index_comes_from_the_xdist_worker_id(worker, index):
    assert G.worker_index(worker) == index


def test_the_plan_round_trips_through_the_environment_value():
    assert G.decode(G.encode(["0", "GPU-ab"], 41), 41) == ["0", "GPU-ab"]
    assert G.decode(None, 41) is None


def test_a_plan_set_by_another_process_than_the_parent_is_ignored():
    assert G.decode(G.encode(["0", "1"], 41), 42) is None


def test_cuda_visible_devices_entries_and_empty_value():
    assert G.visible_from_env("0, 2") == ["0", "2"]
    assert G.visible_from_env("") == []
    assert G.visible_from_env(None) is None


@pytest.mark.parametrize("needed, visible, reason", [
    (2, 1, "needs 2 GPUs, this host has 1"),
    (2, 2, None),
    (1, 4, None),
    (4, 0, "needs 4 GPUs, this host has 0"),
])
def test_multi_gpu_skip_reason(needed, visible, reason):
    assert G.count_skip_reason(needed, visible) == reason


def test_evidence_names_the_physical_gpu_of_the_worker():
    smi = G.parse_smi_list(SMI)
    assert G.physical(["1", "0"], smi) == {
        "gpu_index": "1", "gpu_uuid": "GPU-bbbbbbbb-1111-1111-1111-111111111111"}


def test_a_uuid_entry_maps_back_to_its_index():
    smi = G.parse_smi_list(SMI)
    assert G.physical(["GPU-aaaaaaaa-0000-0000-0000-000000000000"], smi)["gpu_index"] == "0"


def test_without_a_view_the_first_listed_gpu_is_device_0():
    assert G.physical([], G.parse_smi_list(SMI))["gpu_index"] == "0"
