"""Visible examples for kata 12 · Datasets, DataLoaders, collate functions and samplers."""
import pytest
import torch


def _dataset(solution):
    return solution.PairDataset(torch.arange(10.0).reshape(5, 2), torch.tensor([0, 1, 0, 1, 1]))


def test_pair_dataset_has_length_and_negative_indexing(solution):
    ds = _dataset(solution)
    assert len(ds) == 5, f"len(ds) is {len(ds)}, expected 5"
    x, y = ds[-1]
    torch.testing.assert_close(x, torch.tensor([8.0, 9.0]), msg="ds[-1][0] should be the last row of x")
    assert int(y) == 1, f"ds[-1][1] is {y}, expected tensor(1)"
    x, y = ds[1]
    torch.testing.assert_close(x, torch.tensor([2.0, 3.0]), msg="ds[1][0] should be x[1]")
    assert int(y) == 1, f"ds[1][1] is {y}, expected tensor(1)"


def test_pair_dataset_rejects_bad_indices_and_mismatched_lengths(solution):
    ds = _dataset(solution)
    for i in (5, -6):
        with pytest.raises(IndexError):
            ds[i]
    with pytest.raises(ValueError):
        solution.PairDataset(torch.zeros(4, 2), torch.zeros(3))


def test_pad_collate_pads_after_each_sequence_in_batch_order(solution):
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]])
    padded, lengths, labels = solution.pad_collate([(a, 7), (b, 1)], pad_value=-1.0)
    expected = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [-1.0, -1.0]],
                             [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    torch.testing.assert_close(padded, expected, msg="padded should hold seq i in padded[i, :L_i], pad_value after")
    assert lengths.dtype == torch.int64 and lengths.tolist() == [2, 3], (
        f"lengths should be the original lengths as int64 [2, 3], got {lengths}")
    assert labels.dtype == torch.int64 and labels.tolist() == [7, 1], (
        f"labels should be int64 [7, 1] in batch order, got {labels}")


def test_make_loader_order_depends_on_the_seed_only(solution):
    ds = _dataset(solution)

    def order(loader):
        return [row for xb, _ in loader for row in xb[:, 0].tolist()]

    assert order(solution.make_loader(ds, 2, shuffle=False, seed=0)) == [0.0, 2.0, 4.0, 6.0, 8.0], (
        "without shuffle the loader should visit the samples in order")
    first = order(solution.make_loader(ds, 2, shuffle=True, seed=3))
    torch.manual_seed(123)
    torch.rand(10)
    again = order(solution.make_loader(ds, 2, shuffle=True, seed=3))
    assert first == again, (f"two loaders built with seed=3 gave {first} and {again}; the order must not "
                            "depend on the global RNG")
    assert sorted(first) == [0.0, 2.0, 4.0, 6.0, 8.0], f"one epoch should visit every sample once, got {first}"
    batches = [len(xb) for xb, _ in solution.make_loader(ds, 2, shuffle=False, seed=0, drop_last=True)]
    assert batches == [2, 2], f"drop_last=True should drop the final batch of 1, got batch sizes {batches}"


def test_class_balanced_sampler_draws_the_rare_class_about_half_the_time(solution):
    labels = torch.tensor([0] * 95 + [1] * 5)
    sampler = solution.ClassBalancedSampler(labels, 1000, torch.Generator().manual_seed(0))
    assert len(sampler) == 1000, f"len(sampler) is {len(sampler)}, expected num_samples=1000"
    idx = list(sampler)
    assert len(idx) == 1000 and all(0 <= i < 100 for i in idx), "expected 1000 indices in [0, 100)"
    share = labels[idx].float().mean().item()
    assert 0.4 < share < 0.6, (f"{share:.3f} of the draws came from class 1 (5 of 100 samples); "
                               "with 2 classes each should get about half")
