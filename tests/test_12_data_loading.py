"""Hidden suite for kata 12_data_loading: PairDataset, pad_collate, make_loader, ClassBalancedSampler.

The solution's classes and its DataLoader are built and exercised by the drivers in
tests/drivers/d12.py; every test asserts on the plain data they return. make_loader is
driven with a dataset whose sample i is the int i, so batches show the visiting order.
"""

import math

import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pad_sequence

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect

from drivers import d12

# ------------------------------------------------------------------------------ strategies


@st.composite
def pairs(draw, min_n=1, max_n=6):
    """(x (N, ...), y (N,)): features of any float dtype/layout; targets int64 class ids or
    floats (regression targets: the dataset must hand y[i] over as it is)."""
    n = draw(st.integers(min_n, max_n), label="N")
    feature_shape = draw(tks.shapes(min_dims=0, max_dims=2, max_side=3), label="feature shape")
    # Any dtype: uint8 images and int64 token ids are features too ("same dtype as x").
    x_dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.uint8, torch.int32, torch.int64]),
                   label="x dtype")
    x = draw(tks.tensors(shape=(n,) + feature_shape, dtype=x_dtype, min_value=0 if x_dtype == torch.uint8 else -10),
             label="x")
    # Int32 / uint8 class ids are targets too ("same dtype as y"): the dataset does not convert them.
    y_dtype = draw(st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.float32, torch.float64]),
                   label="y dtype")
    y = draw(tks.tensors(shape=(n,), dtype=y_dtype, min_value=0, max_value=9), label="y")
    return x, y


@st.composite
def sequence_batches(draw, min_len=1, max_len=6, dtypes=None):
    """[(seq (L_i, D), label)] * B with one dtype and D for the whole batch."""
    b = draw(st.integers(1, 5), label="B")
    d = draw(st.integers(1, 4), label="D")
    dtype = draw(tks.float_dtypes() if dtypes is None else dtypes, label="dtype")
    batch = []
    for _ in range(b):
        length = draw(st.integers(min_len, max_len))
        seq = draw(tks.tensors(shape=(length, d), dtype=dtype))
        batch.append((seq, draw(st.integers(0, 9))))
    return batch


def _on(batch, device):
    return [(seq.to(device), label) for seq, label in batch]


def _pad_collate(kata, batch, **kwargs):
    out = kata.call("pad_collate", batch, **kwargs)
    expect(isinstance(out, (tuple, list)) and len(out) == 3,
           f"pad_collate must return (padded, lengths, labels); got {type(out).__name__} {out!r}")
    return out


# ----------------------------------------------------------------------------- PairDataset

@given(xy=pairs())
def test_pair_dataset_is_a_torch_dataset(kata, device, xy):
    x, y = (t.to(device) for t in xy)
    expect(kata.run(d12.pair_dataset_is_a_dataset, x, y),
           "PairDataset must subclass torch.utils.data.Dataset")


@given(xy=pairs(min_n=0))
def test_pair_dataset_len_is_the_number_of_samples(kata, device, xy):
    x, y = (t.to(device) for t in xy)
    n = kata.run(d12.pair_dataset_len, x, y)
    expect(n == x.shape[0], f"len(PairDataset(x, y)) is {n!r}, expected N = {x.shape[0]} for x of shape "
                            f"{tuple(x.shape)}")


@given(xy=pairs())
@example(xy=(torch.zeros(2, 3), torch.tensor([0.5, 1.5])))  # regression targets stay float
@example(xy=(torch.arange(6, dtype=torch.uint8).reshape(3, 2), torch.tensor([1, 0, 2], dtype=torch.int32)))
def test_pair_dataset_item_i_is_the_pair_x_i_y_i(kata, device, xy):
    x, y = (t.to(device) for t in xy)
    indices = list(range(x.shape[0]))
    items = kata.run(d12.pair_dataset_items, x, y, indices)
    for i, item in zip(indices, items):
        expect(isinstance(item, tuple) and len(item) == 2, f"dataset[{i}] must be a pair (x[i], y[i]); got {item!r}")
        assert_close(item[0], x[i], what=f"dataset[{i}][0] (x[{i}])", inputs={"x": x})
        assert_close(item[1], y[i], what=f"dataset[{i}][1] (y[{i}])", inputs={"y": y})


@given(xy=pairs())
def test_pair_dataset_item_is_a_tuple(kata, device, xy):
    # The contract: ds[i] returns the tuple (x[i], y[i]) (as torch's TensorDataset does), not a list.
    x, y = (t.to(device) for t in xy)
    n = x.shape[0]
    items = kata.run(d12.pair_dataset_items, x, y, [0, n - 1, -1])  # first the values, then the type
    assert_close(items[0][0], x[0], what="dataset[0][0] (x[0])", inputs={"x": x})
    kinds = kata.run(d12.pair_dataset_item_types, x, y, [0, n - 1, -1])
    expect(kinds == ["tuple"] * 3, f"dataset[i] returned a {kinds[0]} for i = 0, N - 1 and -1 ({kinds}): return the "
                                   "tuple (x[i], y[i])")


@given(xy=pairs())
def test_pair_dataset_negative_index_counts_from_the_end(kata, device, xy):
    x, y = (t.to(device) for t in xy)
    n = x.shape[0]
    indices = list(range(-n, 0))
    items = kata.run(d12.pair_dataset_items, x, y, indices)
    for i, item in zip(indices, items):
        expect(isinstance(item, tuple) and len(item) == 2, f"dataset[{i}] must be a pair; got {item!r}")
        assert_close(item[0], x[n + i], what=f"dataset[{i}][0] (x[{n + i}] for N = {n})", inputs={"x": x})
        assert_close(item[1], y[n + i], what=f"dataset[{i}][1] (y[{n + i}] for N = {n})", inputs={"y": y})


def _check_accepts_a_valid_index(kata, x, y):
    # A rejection earns nothing alone: the same dataset must first hand out a valid pair.
    (item,) = kata.run(d12.pair_dataset_items, x, y, [0])
    expect(isinstance(item, tuple) and len(item) == 2, f"dataset[0] must be a pair (x[0], y[0]); got {item!r}")
    assert_close(item[0], x[0], what="dataset[0][0] (x[0])", inputs={"x": x})


@given(xy=pairs(), past=st.integers(0, 20))
def test_pair_dataset_raises_index_error_past_the_end(kata, device, xy, past):
    x, y = (t.to(device) for t in xy)
    i = x.shape[0] + past
    _check_accepts_a_valid_index(kata, x, y)
    with pytest.raises(IndexError):
        kata.run(d12.pair_dataset_items, x, y, [i])


@given(xy=pairs(), before=st.integers(1, 20))
def test_pair_dataset_raises_index_error_before_the_start(kata, device, xy, before):
    x, y = (t.to(device) for t in xy)
    i = -x.shape[0] - before
    _check_accepts_a_valid_index(kata, x, y)
    with pytest.raises(IndexError):
        kata.run(d12.pair_dataset_items, x, y, [i])


@given(xy=pairs(), extra=st.integers(-3, 3).filter(bool))
def test_pair_dataset_rejects_x_and_y_of_different_lengths(kata, device, xy, extra):
    x, y = (t.to(device) for t in xy)
    assume(y.shape[0] + extra >= 0)
    n = kata.run(d12.pair_dataset_len, x, y)  # first an accepted case: equal lengths
    expect(n == x.shape[0], f"len(PairDataset(x, y)) is {n!r}, expected N = {x.shape[0]}")
    y = torch.arange(y.shape[0] + extra, device=device)
    with pytest.raises(ValueError):
        kata.run(d12.pair_dataset_len, x, y)


@given(xy=pairs(min_n=1, max_n=9), batch_size=st.integers(1, 4))
def test_pair_dataset_batches_through_torch_dataloader(kata, device, xy, batch_size):
    x, y = (t.to(device) for t in xy)
    batches = kata.run(d12.pair_dataset_batches, x, y, batch_size)
    starts = range(0, x.shape[0], batch_size)
    expect(len(batches) == len(starts), f"DataLoader(PairDataset(x, y), batch_size={batch_size}) gave "
                                        f"{len(batches)} batches for N = {x.shape[0]}, expected {len(starts)}")
    for k, (start, (bx, by)) in enumerate(zip(starts, batches)):
        assert_close(bx, x[start:start + batch_size], what=f"batch {k} features", inputs={"x": x})
        assert_close(by, y[start:start + batch_size], what=f"batch {k} targets", inputs={"y": y})


# ----------------------------------------------------------------------------- pad_collate

@given(batch=sequence_batches(), pad_value=st.floats(-5, 5, allow_subnormal=False, width=32))
# Zero rows inside the sequences are data, not padding; -inf is a usual pad for masks (0 * -inf is nan).
@example(batch=[(torch.zeros(2, 3), 1), (torch.ones(4, 3), 0)], pad_value=-1.0)
@example(batch=[(torch.ones(1, 2), 1), (torch.ones(3, 2), 0)], pad_value=float("-inf"))
def test_pad_collate_padded_matches_pad_sequence(kata, device, batch, pad_value):
    batch = _on(batch, device)
    padded, _, _ = _pad_collate(kata, batch, pad_value=pad_value)
    want = pad_sequence([seq for seq, _ in batch], batch_first=True, padding_value=pad_value)
    assert_close(padded, want, what=f"padded (B, L_max, D) with pad_value={pad_value}",
                 inputs={"lengths": [seq.shape[0] for seq, _ in batch]})


@given(batch=sequence_batches())
def test_pad_collate_pads_with_zero_by_default(kata, device, batch):
    batch = _on(batch, device)
    padded, _, _ = _pad_collate(kata, batch)
    want = pad_sequence([seq for seq, _ in batch], batch_first=True, padding_value=0.0)
    assert_close(padded, want, what="padded (B, L_max, D) with the default pad_value",
                 inputs={"lengths": [seq.shape[0] for seq, _ in batch]})


@given(batch=sequence_batches(), pad_value=st.sampled_from([0.0, -1.0, 7.0]))
@example(batch=[(torch.zeros(2, 3), 1), (torch.ones(5, 3), 0), (torch.zeros(1, 3), 2)], pad_value=0.0)
def test_pad_collate_lengths_are_the_unpadded_lengths(kata, device, batch, pad_value):
    # Sequences may contain rows equal to the pad value: lengths cannot be read off the padding.
    batch = _on(batch, device)
    _, lengths, _ = _pad_collate(kata, batch, pad_value=pad_value)
    want = torch.tensor([seq.shape[0] for seq, _ in batch], dtype=torch.int64)
    expect(isinstance(lengths, torch.Tensor), f"lengths must be a LongTensor; got {type(lengths).__name__}")
    assert_close(lengths.cpu(), want, what="lengths (B,), int64, in batch order")


@given(batch=sequence_batches())
def test_pad_collate_labels_are_int64_in_batch_order(kata, device, batch):
    batch = _on(batch, device)
    _, _, labels = _pad_collate(kata, batch)
    want = torch.tensor([label for _, label in batch], dtype=torch.int64)
    expect(isinstance(labels, torch.Tensor), f"labels must be a LongTensor; got {type(labels).__name__}")
    assert_close(labels.cpu(), want, what="labels (B,), int64, in batch order")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_pad_collate_keeps_dtype_and_device(kata, device, dtype):
    batch = [(torch.ones(3, 2, dtype=dtype, device=device), 0),
             (torch.ones(4, 4, dtype=dtype, device=device)[:, ::2], 1)]  # a strided (4, 2) view
    padded, _, _ = _pad_collate(kata, batch)
    expect(isinstance(padded, torch.Tensor), f"padded must be a tensor; got {type(padded).__name__}")
    expect(padded.dtype == dtype, f"padded has dtype {padded.dtype}, the sequences {dtype}")
    expect(padded.device == device, f"padded is on {padded.device}, the sequences on {device}")
    expect(tuple(padded.shape) == (2, 4, 2), f"padded has shape {tuple(padded.shape)}, expected (2, 4, 2)")


@given(batch=sequence_batches(dtypes=st.just(torch.int64)), pad_value=st.sampled_from([0.0, -1.0, 3.0]))
@example(batch=[(torch.tensor([[5], [7]]), 0), (torch.tensor([[2**40 + 1]]), 1)], pad_value=0.0)
def test_pad_collate_keeps_integer_sequences(kata, device, batch, pad_value):
    # The contract allows any dtype ("one D and dtype for the batch"; padded "in the sequences'
    # dtype"): token-id sequences (L_i, 1) of int64 are the usual case. Pad values here are whole.
    batch = _on(batch, device)
    padded, _, _ = _pad_collate(kata, batch, pad_value=pad_value)
    want = pad_sequence([seq for seq, _ in batch], batch_first=True, padding_value=pad_value)
    assert_close(padded, want, what=f"padded (B, L_max, D) of int64 sequences with pad_value={pad_value}",
                 inputs={"lengths": [seq.shape[0] for seq, _ in batch]})


@given(batch=sequence_batches(min_len=0, max_len=3))
@example(batch=[(torch.zeros(0, 2), 3), (torch.zeros(0, 2), 4)])
@example(batch=[(torch.zeros(0, 2), 3), (torch.ones(2, 2), 4)])
def test_pad_collate_handles_empty_sequences(kata, device, batch):
    batch = _on(batch, device)
    padded, lengths, _ = _pad_collate(kata, batch, pad_value=-1.0)
    want = pad_sequence([seq for seq, _ in batch], batch_first=True, padding_value=-1.0)
    assert_close(padded, want, what="padded (B, L_max, D) when some sequences have length 0",
                 inputs={"lengths": [seq.shape[0] for seq, _ in batch]})
    assert_close(lengths.cpu(), torch.tensor([seq.shape[0] for seq, _ in batch]), what="lengths")


# ----------------------------------------------------------------------------- make_loader

# The catalog: `seed: int`; torch.Generator().manual_seed accepts any int in [-2**63, 2**64), negative
# ones included, so the seeds drawn here are not limited to tks.seeds()'s non-negative range.
LOADER_SEEDS = st.integers(-2**63, 2**63 - 1)


def _loader(kata, n, batch_size, shuffle, seed, drop_last=False, epochs=1):
    out = kata.run(d12.loader_epochs, n, batch_size, shuffle, seed, drop_last, epochs)
    return out


@given(n=st.integers(1, 12), batch_size=st.integers(1, 5), seed=tks.seeds())
def test_make_loader_returns_a_dataloader(kata, n, batch_size, seed):
    out = _loader(kata, n, batch_size, False, seed)
    expect(out["is_dataloader"], "make_loader must return a torch.utils.data.DataLoader")


@given(n=st.integers(1, 12), batch_size=st.integers(1, 5), seed=tks.seeds())
def test_make_loader_without_shuffle_visits_samples_in_order(kata, n, batch_size, seed):
    out = _loader(kata, n, batch_size, False, seed, epochs=2)
    want = [list(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)]
    for e, batches in enumerate(out["epochs"]):
        expect(batches == want, f"make_loader(dataset of {n}, batch_size={batch_size}, shuffle=False), epoch {e}: "
                                f"batches {batches}, expected {want}")
    expect(out["len"] == len(want), f"len(loader) is {out['len']}, expected {len(want)}")


@given(n=st.integers(1, 12), batch_size=st.integers(1, 5), seed=tks.seeds())
def test_make_loader_with_shuffle_visits_every_sample_once_per_epoch(kata, n, batch_size, seed):
    out = _loader(kata, n, batch_size, True, seed, epochs=2)
    sizes = [min(batch_size, n - s) for s in range(0, n, batch_size)]
    for e, batches in enumerate(out["epochs"]):
        expect([len(b) for b in batches] == sizes,
               f"epoch {e}: batch sizes {[len(b) for b in batches]}, expected {sizes} (N = {n})")
        seen = sorted(i for b in batches for i in b)
        expect(seen == list(range(n)), f"epoch {e} visited {seen}, expected each of 0..{n - 1} exactly once")


@pytest.mark.parametrize("shuffle", [False, True])
@given(n=st.integers(1, 12), batch_size=st.integers(1, 5), seed=tks.seeds())
def test_make_loader_drop_last_drops_the_partial_batch(kata, shuffle, n, batch_size, seed):
    out = _loader(kata, n, batch_size, shuffle, seed, drop_last=True)
    batches = out["epochs"][0]
    full = n // batch_size
    expect(len(batches) == full and all(len(b) == batch_size for b in batches),
           f"drop_last=True, N = {n}, batch_size = {batch_size}: got batch sizes {[len(b) for b in batches]}, "
           f"expected {full} batches of {batch_size}")
    expect(out["len"] == full, f"len(loader) is {out['len']}, expected {full}")
    seen = [i for b in batches for i in b]
    expect(len(set(seen)) == len(seen) and all(0 <= i < n for i in seen),
           f"drop_last=True visited {seen}: indices must be distinct samples of 0..{n - 1}")


@pytest.mark.parametrize("shuffle", [False, True])
@given(n=st.integers(1, 12), batch_size=st.integers(1, 5), seed=tks.seeds())
@example(n=7, batch_size=3, seed=0)
def test_make_loader_keeps_the_partial_batch_by_default(kata, shuffle, n, batch_size, seed):
    # The catalog's signature: drop_last: bool = False. Called without it, the last batch may be short.
    out = kata.run(d12.loader_default_drop_last, n, batch_size, shuffle, seed)
    sizes = [min(batch_size, n - s) for s in range(0, n, batch_size)]
    got = [len(b) for b in out["batches"]]
    expect(got == sizes and out["len"] == len(sizes),
           f"make_loader(dataset of {n}, batch_size={batch_size}, shuffle={shuffle}, seed) without drop_last gave "
           f"batch sizes {got} (len {out['len']}), expected {sizes}: drop_last defaults to False")
    seen = sorted(i for b in out["batches"] for i in b)
    expect(seen == list(range(n)), f"make_loader without drop_last visited {seen}, expected each of 0..{n - 1} once")


@given(n=st.integers(2, 12), batch_size=st.integers(2, 5), seed=tks.seeds())
@example(n=7, batch_size=3, seed=0)
def test_make_loader_drop_last_with_shuffle_drops_a_random_batch(kata, n, batch_size, seed):
    # With shuffle, each epoch is a fresh permutation and drop_last drops its final partial batch:
    # which samples miss an epoch changes from epoch to epoch. A given sample misses one epoch with
    # probability r / n (r = n % batch_size < n / 2 when a full batch exists), so it misses all 40
    # with probability < 2^-40: a correct loader fails this with probability < 12 * 2^-40 < 1e-11.
    assume(n >= batch_size)
    out = _loader(kata, n, batch_size, True, seed, drop_last=True, epochs=40)
    seen = sorted({i for batches in out["epochs"] for b in batches for i in b})
    expect(seen == list(range(n)),
           f"make_loader(dataset of {n}, batch_size={batch_size}, shuffle=True, drop_last=True) visited only "
           f"{seen} in 40 epochs: shuffle all N samples each epoch, then drop the final partial batch "
           "(do not drop the same samples every epoch)")


@given(n=st.integers(10, 16), batch_size=st.integers(1, 5), seed=LOADER_SEEDS,
       global_seeds=st.lists(tks.seeds(), min_size=3, max_size=3, unique=True))
def test_make_loader_same_seed_gives_same_order_whatever_the_global_rng(kata, n, batch_size, seed, global_seeds):
    orders = kata.run(d12.rebuilt_loader_orders, n, batch_size, seed, global_seeds)
    for k in range(1, len(orders)):
        expect(orders[k] == orders[0],
               f"make_loader(..., shuffle=True, seed={seed}) built again gave order {orders[k]}, first time "
               f"{orders[0]}. The global RNG was reseeded and used in between: the order must depend on "
               f"`seed` only (give the DataLoader its own torch.Generator)")


@given(n=st.integers(10, 16), batch_size=st.integers(1, 5),
       seeds=st.lists(tks.seeds(), min_size=2, max_size=3, unique=True))
def test_make_loader_order_does_not_depend_on_loaders_built_since(kata, n, batch_size, seeds):
    # Each loader built first, then each iterated: a loader keeps its own seed's order however
    # many loaders were built after it (two seeds' orders match with probability 1/n! < 3e-7).
    out = kata.run(d12.interleaved_loader_orders, n, batch_size, seeds)
    for seed, together, alone in zip(seeds, out["interleaved"], out["alone"]):
        expect(together == alone,
               f"make_loader(..., shuffle=True, seed={seed}) visited {together} when loaders with seeds "
               f"{seeds} were all built before any was iterated, but {alone} when built and iterated alone: "
               "each loader needs a torch.Generator of its own (not one shared and reseeded)")


@given(n=st.integers(10, 16), batch_size=st.integers(1, 5), seed=tks.seeds())
def test_make_loader_epochs_differ_when_shuffling(kata, n, batch_size, seed):
    # Two successive epochs of a correct loader match with probability 1/n! <= 1/10! < 3e-7,
    # so this check fails a correct solution with probability < 6e-7 (two pairs compared).
    out = _loader(kata, n, batch_size, True, seed, epochs=3)
    orders = [[i for b in batches for i in b] for batches in out["epochs"]]
    for e in (1, 2):
        expect(orders[e] != orders[e - 1],
               f"epochs {e - 1} and {e} of one loader (shuffle=True, seed={seed}) visited the samples in the "
               f"same order {orders[e]}: each epoch must reshuffle (do not reseed per epoch)")


@given(n=st.integers(10, 16), seeds=st.lists(LOADER_SEEDS, min_size=2, max_size=2, unique=True))
@example(n=10, seeds=[-1, 1])
@example(n=10, seeds=[-1, -2])  # Python's hash() maps both to -2: a hash(seed) seeding merges them
def test_make_loader_different_seeds_give_different_orders(kata, n, seeds):
    # A correct loader's first epochs for two seeds match with probability 1/n! < 3e-7.
    a = _loader(kata, n, n, True, seeds[0])["epochs"][0]
    b = _loader(kata, n, n, True, seeds[1])["epochs"][0]
    expect(a != b, f"seeds {seeds[0]} and {seeds[1]} gave the same order {a}: the seed must drive the shuffle")


# ------------------------------------------------------------------- ClassBalancedSampler

@st.composite
def class_labels(draw, min_classes=1, max_classes=4, max_count=30):
    """Int64 labels with min..max_classes distinct (not necessarily contiguous, possibly negative)
    class ids, shuffled. The contract says "any ids": -1 for an "unknown" class is common, and
    torch.unique / WeightedRandomSampler weights handle it (torch.bincount does not)."""
    ids = draw(st.lists(st.integers(-3, 9), min_size=min_classes, max_size=max_classes, unique=True),
               label="class ids")
    counts = draw(st.lists(st.integers(1, max_count), min_size=len(ids), max_size=len(ids)), label="counts")
    labels = torch.tensor([c for c, k in zip(ids, counts) for _ in range(k)], dtype=torch.int64)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(draw(tks.seeds())))
    return labels[perm]


def _draws(kata, labels, num_samples, seed):
    out = kata.run(d12.sampler_draws, labels, num_samples, seed)
    return out


@given(labels=class_labels(), seed=tks.seeds())
def test_sampler_is_a_torch_sampler(kata, device, labels, seed):
    out = _draws(kata, labels.to(device), 4, seed)
    expect(out["is_sampler"], "ClassBalancedSampler must subclass torch.utils.data.Sampler")


@given(labels=class_labels(), factor=st.integers(1, 3), seed=st.none() | tks.seeds())
def test_sampler_yields_num_samples_valid_indices_with_replacement(kata, device, labels, factor, seed):
    # num_samples up to 3N: drawing with replacement must allow more draws than samples.
    num_samples = factor * len(labels)
    out = _draws(kata, labels.to(device), num_samples, seed)
    idx = out["indices"]
    expect(out["len"] == num_samples, f"len(sampler) is {out['len']}, expected num_samples = {num_samples}")
    expect(len(idx) == num_samples, f"the sampler yielded {len(idx)} indices, expected num_samples = {num_samples}")
    bad = [i for i in idx if not 0 <= i < len(labels)]
    expect(not bad, f"the sampler yielded indices {bad[:5]} outside [0, {len(labels)})")


@given(labels=class_labels(), seed=tks.seeds())
@example(labels=torch.tensor([2] + [0] * 30 + [7] * 5), seed=0)
@example(labels=torch.tensor([1] * 29 + [0]), seed=1)
@example(labels=torch.tensor([-1] * 20 + [0] * 2 + [7] * 5), seed=2)  # any ids: -1 is a class too
def test_sampler_makes_every_class_equally_likely(kata, device, labels, seed):
    # Each class frequency over M = 4000 draws is Binomial(M, 1/K) / M. Hoeffding:
    # P(|freq - 1/K| >= 0.06) <= 2 exp(-2 M 0.06^2) = 6e-13 per class, so a correct sampler fails
    # this test with probability < 4 * 6e-13 per example, < 2e-10 over a whole run.
    num_samples = 4000
    classes = labels.unique()
    out = _draws(kata, labels.to(device), num_samples, seed)
    drawn = labels[torch.tensor(out["indices"], dtype=torch.int64)]
    freq = {int(c): float((drawn == c).double().mean()) for c in classes}
    counts = {int(c): int((labels == c).sum()) for c in classes}
    target = 1.0 / len(classes)
    expect(all(abs(f - target) < 0.06 for f in freq.values()),
           f"class frequencies over {num_samples} draws {freq}, expected about {target:.3f} each "
           f"(class sizes {counts}): weight each sample by 1 / (size of its class)")


@given(labels=class_labels(min_classes=2), seed=tks.seeds())
@example(labels=torch.tensor([0, 0, 0, 1]), seed=0)
@example(labels=torch.tensor([5] * 29 + [2]), seed=1)
def test_sampler_is_balanced_when_num_samples_is_at_most_n(kata, device, labels, seed):
    # num_samples = N (one epoch's worth, the usual choice): the draws are still with replacement,
    # so the classes stay equally likely (a permutation of 0..N-1 would keep the data's imbalance).
    # Passes over one sampler are independent draws: M >= 4000 draws in all, and as above
    # P(|freq - 1/K| >= 0.06) <= 2 exp(-2 M 0.06^2) = 6e-13 per class, < 2e-10 over a whole run.
    n = len(labels)
    passes = -(-4000 // n)
    out = kata.run(d12.sampler_passes, labels.to(device), n, seed, passes)
    expect(all(len(p) == n for p in out), f"each pass yielded {sorted({len(p) for p in out})} indices, expected {n}")
    drawn = labels[torch.tensor([i for p in out for i in p], dtype=torch.int64)]
    classes = labels.unique()
    freq = {int(c): round(float((drawn == c).double().mean()), 3) for c in classes}
    counts = {int(c): int((labels == c).sum()) for c in classes}
    target = 1.0 / len(classes)
    expect(all(abs(f - target) < 0.06 for f in freq.values()),
           f"ClassBalancedSampler(labels, num_samples=N={n}): class frequencies over {passes} passes {freq}, "
           f"expected about {target:.3f} each (class sizes {counts}): draw with replacement whatever "
           "num_samples is")


@given(labels=class_labels(min_classes=2), seed=tks.seeds())
@example(labels=torch.tensor([0, 1]), seed=0)
@example(labels=torch.tensor([3] * 20 + [5] * 2 + [8]), seed=1)
def test_sampler_draws_the_class_of_each_index_independently(kata, device, labels, seed):
    # Draw 2t and draw 2t+1 are independent, so they share a class with probability 1/K. Over the
    # 2000 disjoint pairs of M = 4000 draws, Hoeffding: P(|rate - 1/K| >= 0.07)
    # <= 2 exp(-2 * 2000 * 0.07^2) = 6e-9 per example, < 3e-7 over a whole run.
    num_samples = 4000
    k = len(labels.unique())
    out = _draws(kata, labels.to(device), num_samples, seed)
    drawn = labels[torch.tensor(out["indices"], dtype=torch.int64)]
    expect(len(drawn) == num_samples, f"the sampler yielded {len(drawn)} indices, expected {num_samples}")
    rate = float((drawn[0::2] == drawn[1::2]).double().mean())
    expect(abs(rate - 1 / k) < 0.07,
           f"with {k} classes, draws 2t and 2t+1 had the same class {rate:.3f} of the time, expected about "
           f"{1 / k:.3f}: each index must be drawn at random (with replacement), not by cycling through "
           "the classes")


@given(labels=class_labels(min_classes=2), seed=tks.seeds())
@example(labels=torch.tensor([0] * 3 + [1]), seed=0)
@example(labels=torch.tensor([2] * 5 + [0] * 2 + [9]), seed=1)
def test_sampler_class_counts_of_a_pass_vary_like_independent_draws(kata, device, labels, seed):
    # num_samples = K draws per pass. Independent draws (with replacement) repeat a class within a
    # pass with probability q = 1 - K! / K^K (0.5 for K = 2, 0.91 for K = 4); a stratified sampler
    # (num_samples // K of each class, shuffled) never does. Over 200 passes, Hoeffding:
    # P(|rate - q| >= 0.25) <= 2 exp(-2 * 200 * 0.25^2) = 3e-11 per example, < 2e-9 per run.
    classes = labels.unique()
    k = len(classes)
    out = kata.run(d12.sampler_passes, labels.to(device), k, seed, 200)
    expect(all(len(p) == k for p in out), f"each pass yielded {sorted({len(p) for p in out})} indices, expected {k}")
    q = 1 - math.factorial(k) / k ** k
    rate = sum(len(set(labels[p].tolist())) < k for p in out) / len(out)
    expect(abs(rate - q) < 0.25,
           f"ClassBalancedSampler(labels, num_samples=K={k}): {rate:.2f} of 200 passes drew some class twice, "
           f"expected about {q:.2f} for independent draws with replacement: draw every index at random, do not "
           "hand out num_samples // K draws to each class")


@given(labels=class_labels(max_count=3), seed=tks.seeds())
@example(labels=torch.tensor([4, 4]), seed=0)
@example(labels=torch.tensor([0, 0, 0, 1]), seed=2)
def test_sampler_draws_every_index_with_replacement(kata, device, labels, seed):
    # Independent draws with replacement: draws 2t and 2t+1 are the same index with probability
    # q = sum_i p_i^2, p_i = 1 / (K * size of i's class). Over the 2000 disjoint pairs of
    # M = 4000 draws, Hoeffding: P(|rate - q| >= 0.07) <= 6e-9 per example, < 3e-7 per run.
    num_samples = 4000
    classes, inverse, counts = labels.unique(return_inverse=True, return_counts=True)
    p = 1.0 / (len(classes) * counts[inverse].double())
    q = float(p.square().sum())
    out = _draws(kata, labels.to(device), num_samples, seed)
    idx = torch.tensor(out["indices"], dtype=torch.int64)
    expect(len(idx) == num_samples, f"the sampler yielded {len(idx)} indices, expected {num_samples}")
    rate = float((idx[0::2] == idx[1::2]).double().mean())
    expect(abs(rate - q) < 0.07,
           f"draws 2t and 2t+1 were the same index {rate:.3f} of the time, expected about {q:.3f} for "
           f"independent draws with replacement (labels {labels.tolist()}): draw every index from the "
           "whole weighted set each time, never from a queue without replacement")


@given(labels=class_labels(), num_samples=st.integers(1, 50), seed=st.none() | tks.seeds())
def test_sampler_yields_python_ints(kata, device, labels, num_samples, seed):
    out = _draws(kata, labels.to(device), num_samples, seed)
    expect(out["index_types"] == ["int"],
           f"the sampler yielded indices of type(s) {out['index_types']}; a Sampler[int] yields Python ints "
           "(for example picks.tolist())")


@given(labels=class_labels(), seed=tks.seeds())
@example(labels=torch.tensor([0] * 3 + [1]), seed=0)
def test_sampler_draws_new_indices_on_every_pass(kata, device, labels, seed):
    # One sampler iterated twice (two epochs). With num_samples = 40 draws and every index
    # drawn with probability at most 1/2 (a class of one sample among two or more classes; a
    # single class of N >= 2 samples gives 1/N), both passes match with probability
    # <= 2^-40 < 1e-12. A single sample (N = 1) always gives index 0: skipped.
    assume(len(labels) >= 2)
    out = kata.run(d12.sampler_passes, labels.to(device), 40, seed, 2)
    first, second = out
    expect(first != second, f"two passes over one ClassBalancedSampler(generator seeded {seed}) yielded the same "
                            f"indices {first}: draw anew in __iter__, from the generator's current state")


@given(labels=class_labels(), num_samples=st.integers(1, 50), seed=tks.seeds())
def test_sampler_is_reproducible_with_a_seeded_generator(kata, device, labels, num_samples, seed):
    a = _draws(kata, labels.to(device), num_samples, seed)["indices"]
    torch.rand(3)  # the global RNG moves on; the sampler's generator decides alone
    b = _draws(kata, labels.to(device), num_samples, seed)["indices"]
    expect(a == b, f"two samplers with generators seeded {seed} drew {a} and {b}: draw with the generator")


@given(labels=class_labels(), seed=tks.seeds())
@example(labels=torch.tensor([0] * 3 + [1]), seed=0)
def test_sampler_draws_from_the_generators_current_state(kata, device, labels, seed):
    # "Uses generator for its draws": from the state the caller's generator is in, not from a copy
    # seeded with its initial_seed(). A generator used once before must give other indices than a
    # fresh one with the same seed: 40 draws, each index drawn with probability at most 1/2 (see
    # test_sampler_draws_new_indices_on_every_pass), match with probability <= 2^-40 < 1e-12.
    assume(len(labels) >= 2)
    out = kata.run(d12.sampler_draws_from_an_advanced_generator, labels.to(device), 40, seed)
    expect(len(out["moved"]) == 40 and len(out["fresh"]) == 40,
           f"the samplers yielded {len(out['moved'])} and {len(out['fresh'])} indices, expected 40")
    expect(out["moved"] != out["fresh"],
           f"a generator seeded {seed} and then used for one draw, and a fresh generator seeded {seed}, gave the same "
           f"indices {out['moved']}: draw with the generator you are given, from its current state (do not copy it "
           "from its initial_seed())")


@given(labels=class_labels(), seed=tks.seeds())
@example(labels=torch.tensor([0] * 3 + [1]), seed=0)
def test_sampler_draws_from_the_generators_state_when_iterated(kata, device, labels, seed):
    # "Uses generator for its draws": the draws happen when the sampler is iterated, from the state the
    # generator is in then (as torch's WeightedRandomSampler does). A sampler built with a generator
    # that the caller then uses once must draw other indices than one with an untouched generator
    # seeded alike: 40 draws, each index with probability at most 1/2, match with probability
    # <= 2^-40 < 1e-12 (see test_sampler_draws_new_indices_on_every_pass). N = 1: skipped.
    assume(len(labels) >= 2)
    out = kata.run(d12.sampler_draws_after_building, labels.to(device), 40, seed)
    expect(len(out["advanced"]) == 40 and len(out["fresh"]) == 40,
           f"the samplers yielded {len(out['advanced'])} and {len(out['fresh'])} indices, expected 40")
    expect(out["advanced"] != out["fresh"],
           f"a sampler built with a generator seeded {seed}, which was then used for one draw before the sampler was "
           f"iterated, yielded the same indices {out['advanced']} as one with an untouched generator: draw from the "
           "generator itself in __iter__ (do not copy its state in __init__)")


# Contract decision (lead engineer): with generator=None the sampler draws from torch's global RNG,
# as torch's own samplers (RandomSampler, WeightedRandomSampler) do: the same torch.manual_seed gives
# the same indices, different seeds give different ones. A fresh torch.Generator() made when none is
# given is wrong: its fixed default seed makes every run draw the same indices whatever the seed.
@given(labels=class_labels(), seeds=st.lists(tks.seeds(), min_size=2, max_size=2, unique=True))
@example(labels=torch.tensor([0] * 3 + [1]), seeds=[0, 1])
def test_sampler_without_a_generator_follows_the_global_seed(kata, device, labels, seeds):
    # 40 draws, every index drawn with probability at most 1/2 (see the test above): two different
    # seeds give the same indices with probability <= 2^-40 < 1e-12. N = 1 always gives index 0: skipped.
    assume(len(labels) >= 2)
    runs = kata.run(d12.sampler_draws_under_global_seeds, labels.to(device), 40, [seeds[0], seeds[0], seeds[1]])
    a, b, c = (run["first"] for run in runs)
    expect(a == b, f"ClassBalancedSampler(labels, 40) without a generator, built and iterated right after "
                   f"torch.manual_seed({seeds[0]}) twice, drew {a} then {b}: without a generator, draw from "
                   "torch's global RNG (generator=None), as torch's own samplers do")
    expect(a != c, f"ClassBalancedSampler(labels, 40) without a generator drew the same indices {a} after "
                   f"torch.manual_seed({seeds[0]}) and after torch.manual_seed({seeds[1]}): without a generator, "
                   "draw from torch's global RNG (a fresh torch.Generator() always starts from the same seed)")


@given(labels=class_labels(), seed=tks.seeds())
@example(labels=torch.tensor([0] * 3 + [1]), seed=0)
def test_sampler_without_a_generator_moves_the_global_rng_on(kata, device, labels, seed):
    # Same decision as above: drawing from the global RNG advances it, so after one torch.manual_seed
    # a second pass over the sampler, and a second sampler built next, draw new indices (as torch's
    # RandomSampler and WeightedRandomSampler do). A private generator seeded from
    # torch.initial_seed() follows the seed but repeats itself. Bound as above: < 1e-12 per pair.
    assume(len(labels) >= 2)
    (run,) = kata.run(d12.sampler_draws_under_global_seeds, labels.to(device), 40, [seed])
    expect(run["again"] != run["first"],
           f"after torch.manual_seed({seed}), two passes over one ClassBalancedSampler(labels, 40) without a "
           f"generator drew the same indices {run['first']}: draw from torch's global RNG in __iter__")
    expect(run["next"] != run["first"],
           f"after torch.manual_seed({seed}), two ClassBalancedSampler(labels, 40) without a generator, built and "
           f"iterated one after the other, drew the same indices {run['first']}: without a generator, draw from "
           "torch's global RNG (it moves on with every draw), not from a generator seeded with torch.initial_seed()")


@given(labels=class_labels(), batch_size=st.integers(1, 8), seed=tks.seeds())
def test_sampler_drives_a_torch_dataloader(kata, device, labels, batch_size, seed):
    num_samples = 2 * len(labels)
    batches = kata.run(d12.balanced_loader_labels, labels.to(device), num_samples, batch_size, seed)
    sizes = [len(b) for b in batches]
    want = [min(batch_size, num_samples - s) for s in range(0, num_samples, batch_size)]
    expect(sizes == want, f"DataLoader(..., sampler=ClassBalancedSampler(labels, {num_samples})) gave batch "
                          f"sizes {sizes}, expected {want}")
    present = set(labels.tolist())
    drawn = set(torch.cat(batches).tolist()) if batches else set()
    expect(drawn <= present, f"the loader yielded labels {sorted(drawn - present)} that are not in the data")
