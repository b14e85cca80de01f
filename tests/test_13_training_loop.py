"""Hidden suite for kata 13_training_loop: train_one_epoch, evaluate, fit.

The solution's functions are run by drivers (tests/drivers/d13.py) on a linear classifier
with given float64 weights, cross-entropy, and plain SGD; spies record what the model, the
loss and the optimizer saw (train/eval mode, grad mode, whether a batch went through
`.to(device)`, the gradients and learning rate used at every optimizer step). The expected
side is the same SGD computed here with torch autograd, step by step, in float64, so the
dtype's default tolerances apply. Data come from a torch.Generator seeded by hypothesis.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from torchkata import strategies as tks
from torchkata.testing import assert_close, expect

from drivers import d13

F64 = torch.float64
D, C = 4, 3          # features, classes
LRS = st.floats(min_value=0.05, max_value=0.5)

# The fit tests build a model, loaders and an optimizer per epoch: fewer examples than the
# profile's (never more), their scenarios being small and discrete.
FEW = settings(max_examples=min(20, settings.default.max_examples))


# ----------------------------------------------------------------------------- strategies

@st.composite
def ragged_sizes(draw, min_batches=2, max_batches=4):
    """Batch sizes [b, ..., b, last] with last < b: a loader whose last batch is short."""
    n = draw(st.integers(min_value=min_batches, max_value=max_batches), label="n_batches")
    b = draw(st.integers(min_value=2, max_value=5), label="batch_size")
    last = draw(st.integers(min_value=1, max_value=b - 1), label="last_batch_size")
    return [b] * (n - 1) + [last]


@st.composite
def any_sizes(draw, min_batches=1, max_batches=5):
    return draw(st.lists(st.integers(min_value=1, max_value=5), min_size=min_batches, max_size=max_batches),
                label="batch_sizes")


def _assert_params(out, expected, what):
    """The model's weight and bias after a driver run (OUT) equal EXPECTED; WHAT(name) says which."""
    for name, got, want in zip(("weight", "bias"), out["params"], expected):
        assert_close(got.cpu(), want, what=what(name))


def make_data(seed, sizes, val_sizes=()):
    """weight (C, D), bias (C,), train batches and val batches [(x (n, D) float64, y (n,) int64)]."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(C, D, generator=g, dtype=F64) * 0.5
    bias = torch.randn(C, generator=g, dtype=F64) * 0.5

    def batch(n):
        return torch.randn(n, D, generator=g, dtype=F64) * 2, torch.randint(0, C, (n,), generator=g)

    return weight, bias, [batch(n) for n in sizes], [batch(n) for n in val_sizes]


# ------------------------------------------------------------------- the expected side

def _loss(w, b, x, y):
    return F.cross_entropy(x @ w.T + b, y)


def sgd_steps(weight, bias, batches, lr, accumulation_steps=1, grad_clip=None, epochs=1, gamma=None,
              frozen_bias=False):
    """Per optimizer step {'grads': [gw, gb], 'params': [w, b] after, 'lr'}, and per batch the
    unscaled loss at the parameters it was computed with: SGD over BATCHES for EPOCHS, each
    batch's loss divided by ACCUMULATION_STEPS, one step per group and one for a final partial
    group, the global grad norm clipped to GRAD_CLIP as torch.nn.utils.clip_grad_norm_ does,
    lr multiplied by GAMMA after each epoch; with FROZEN_BIAS the bias gets no gradient (0 here:
    outside the norm, never moved)."""
    w, b = weight.clone(), bias.clone()
    k = accumulation_steps
    steps, losses = [], []
    for epoch in range(epochs):
        epoch_lr = lr * (gamma ** epoch if gamma is not None else 1.0)
        for start in range(0, len(batches), k):
            gw, gb = torch.zeros_like(w), torch.zeros_like(b)
            for x, y in batches[start:start + k]:
                wl, bl = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
                loss = _loss(wl, bl, x, y)
                losses.append((loss.item(), len(y)))
                dw, db = torch.autograd.grad(loss / k, (wl, bl))
                gw, gb = gw + dw, gb + (0 * db if frozen_bias else db)
            if grad_clip is not None:
                norm = torch.sqrt(gw.square().sum() + gb.square().sum())
                coef = torch.clamp(grad_clip / (norm + 1e-6), max=1.0)
                gw, gb = gw * coef, gb * coef
            w, b = w - epoch_lr * gw, b - epoch_lr * gb
            steps.append({"grads": [gw, gb], "params": [w, b], "lr": epoch_lr})
    return steps, losses


def full_metrics(weight, bias, batches):
    """(mean loss over all samples, fraction of argmax hits) at the given weights."""
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    logits = x @ weight.T + bias
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).double().mean().item()


def _scalar(value):
    return torch.tensor(value, dtype=F64)


def _check_steps(out, expected, *, what, key="grads", rtol=None, atol=None):
    expect(len(out["steps"]) == len(expected),
           f"{what}: optimizer.step() was called {len(out['steps'])} times, expected {len(expected)}")
    for i, (got, want) in enumerate(zip(out["steps"], expected), 1):
        for name, a, e in zip(("weight", "bias"), got[key], want[key]):
            expect(a is not None, f"{what}: at optimizer step {i} the {name} has no gradient (.grad is None)")
            assert_close(a.cpu(), e, rtol=rtol, atol=atol, what=f"{what}: {name} {key[:-1]} at optimizer step {i}")


# ======================================================================== train_one_epoch

@given(seed=tks.seeds(), sizes=any_sizes(), lr=LRS)
def test_train_one_epoch_steps_once_per_batch_by_default(kata, device, seed, sizes, lr):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr)
    expect(len(out["steps"]) == len(batches),
           f"optimizer.step() was called {len(out['steps'])} times for {len(batches)} batches "
           "(accumulation_steps=1): expected one step per batch")


@given(seed=tks.seeds(), sizes=any_sizes(min_batches=2), lr=LRS)
def test_train_one_epoch_zeroes_gradients_between_steps(kata, device, seed, sizes, lr):
    # Each step must see only its own batch's gradient, not the sum over earlier batches.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr)
    expected, _ = sgd_steps(weight, bias, batches, lr)
    _check_steps(out, expected, what="gradient seen by optimizer.step() (were the gradients zeroed after "
                                     "the previous step?)")


@given(seed=tks.seeds(), sizes=any_sizes(), lr=LRS)
def test_train_one_epoch_updates_parameters_like_sgd_over_the_batches(kata, device, seed, sizes, lr):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr)
    expected, _ = sgd_steps(weight, bias, batches, lr)
    _assert_params(out, expected[-1]["params"],
                   lambda name: f"model {name} after one epoch of SGD(lr={lr:g}) over {sizes} samples")


@given(seed=tks.seeds(), sizes=ragged_sizes())
def test_train_one_epoch_returns_sample_weighted_mean_loss(kata, device, seed, sizes):
    # lr = 0 keeps the weights fixed, so the expected value is the loss over all samples at once.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.0)
    loss, _ = full_metrics(weight, bias, batches)
    assert_close(_scalar(out["returned"]), _scalar(loss),
                 what=f"train_one_epoch's returned loss with batch sizes {sizes} (a mean over samples, "
                      "not a mean of batch means)")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_train_one_epoch_returns_a_python_float(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.1)
    expect(out["returned_type"] in ("float", "float64"),
           f"train_one_epoch returned a {out['returned_type']}, expected a Python float (loss.item())")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_train_one_epoch_puts_the_model_in_train_mode(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.1, start_training=False)
    expect(out["forward"], "train_one_epoch never called the model")
    bad = [i for i, call in enumerate(out["forward"], 1)
           if not (call["training"] and call["child_training"] and call["grandchild_training"])]
    expect(not bad, f"the model was in eval mode during training forward pass(es) {bad}; "
                    "train_one_epoch must call model.train() (the model was given to it in eval mode)")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_train_one_epoch_moves_batches_to_the_device(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.1)
    expect(out["forward"] and out["loss_calls"], "train_one_epoch never called the model and the loss")
    for who, calls in (("the model's input x", out["forward"]), ("the loss's target y", out["loss_calls"])):
        for i, call in enumerate(calls, 1):
            expect(call["moved"] and call["on_device"],
                   f"batch {i}: {who} was not moved with .to(device) (it is on {call['device']}, "
                   f"device={device}); move both x and y of every batch")


@given(seed=tks.seeds(), groups=st.integers(min_value=1, max_value=2), k=st.integers(min_value=2, max_value=3),
       batch=st.integers(min_value=1, max_value=4), lr=LRS)
def test_accumulation_update_equals_one_step_on_the_concatenated_batches(kata, device, seed, groups, k, batch, lr):
    weight, bias, batches, _ = make_data(seed, [batch] * (groups * k))
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, accumulation_steps=k)
    big = [(torch.cat([x for x, _ in batches[i:i + k]]), torch.cat([y for _, y in batches[i:i + k]]))
           for i in range(0, len(batches), k)]
    expected, _ = sgd_steps(weight, bias, big, lr)
    _assert_params(out, expected[-1]["params"],
                   lambda name: f"model {name} after {groups * k} batches of {batch} with "
                                f"accumulation_steps={k}, versus {groups} step(s) on batches of {batch * k}")


@given(seed=tks.seeds(), n=st.integers(min_value=1, max_value=7), k=st.integers(min_value=2, max_value=4))
def test_accumulation_steps_once_per_group_and_once_for_a_final_partial_group(kata, device, seed, n, k):
    weight, bias, batches, _ = make_data(seed, [2] * n)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.1, accumulation_steps=k)
    want = math.ceil(n / k)
    expect(len(out["steps"]) == want,
           f"optimizer.step() was called {len(out['steps'])} times for {n} batches with accumulation_steps={k}; "
           f"expected {want} (every {k} batches, and once more for a final partial group)")


@given(seed=tks.seeds(), sizes=any_sizes(min_batches=2), k=st.integers(min_value=2, max_value=3), lr=LRS)
@example(seed=0, sizes=[2, 2, 2], k=2, lr=0.3)  # a final group of one batch: its loss / 2 all the same
def test_accumulation_divides_each_batch_loss_by_accumulation_steps(kata, device, seed, sizes, k, lr):
    # The final partial group's loss is divided by accumulation_steps too.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, accumulation_steps=k)
    expected, _ = sgd_steps(weight, bias, batches, lr, accumulation_steps=k)
    _check_steps(out, expected, what=f"accumulated gradient (each batch's loss / {k}) with batch sizes {sizes}")


@given(seed=tks.seeds(), sizes=ragged_sizes(), k=st.integers(min_value=2, max_value=3))
def test_accumulation_returns_the_unscaled_loss(kata, device, seed, sizes, k):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.0, accumulation_steps=k)
    loss, _ = full_metrics(weight, bias, batches)
    assert_close(_scalar(out["returned"]), _scalar(loss),
                 what=f"train_one_epoch's returned loss with accumulation_steps={k} (the unscaled loss, "
                      "not loss / accumulation_steps)")


@given(seed=tks.seeds(), sizes=any_sizes(), k=st.integers(min_value=1, max_value=3))
@example(seed=0, sizes=[2, 2, 2], k=1)
def test_train_one_epoch_leaves_no_gradient_behind(kata, device, seed, sizes, k):
    # The contract: every step is followed by zeroing the gradients (the final partial group's
    # too), so after the epoch every .grad is zero or None (nothing held over for the caller).
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, 0.1, accumulation_steps=k)
    left = [name for name, g in zip(("weight", "bias"), out["grads_after"]) if g is not None and bool(g.any())]
    expect(not left, f"after train_one_epoch (batch sizes {sizes}, accumulation_steps={k}) the {left} gradient(s) "
                     "are not zero: zero the gradients after each optimizer.step(), the last one included")


@given(seed=tks.seeds(), sizes=any_sizes(), k=st.integers(min_value=1, max_value=3), lr=LRS)
@example(seed=0, sizes=[2, 2, 2], k=2, lr=0.3)  # a final partial group
def test_train_one_epoch_makes_one_pass_over_a_one_shot_loader(kata, device, seed, sizes, k, lr):
    # "One pass over loader", and a loader is any iterable: a generator streaming the batches
    # (gone once iterated) must train exactly as a list of them does.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, accumulation_steps=k, one_shot=True)
    expected, _ = sgd_steps(weight, bias, batches, lr, accumulation_steps=k)
    expect(len(out["steps"]) == len(expected),
           f"optimizer.step() was called {len(out['steps'])} times for {len(batches)} batches from a one-shot "
           f"iterator with accumulation_steps={k}, expected {len(expected)}: go over the loader once (it may be "
           "a generator, empty the second time)")
    _assert_params(out, expected[-1]["params"],
                   lambda name: f"model {name} after one epoch over a one-shot iterator of batches {sizes}")


@given(seed=tks.seeds(), sizes=any_sizes(), lr=LRS, clip=st.floats(min_value=0.05, max_value=2.0),
       split_groups=st.booleans())
@example(seed=0, sizes=[3, 3, 3], lr=0.3, clip=0.05, split_groups=False)  # every step clipped, not only the first
# Weight and bias in two optimizer param groups (as with per-group weight decay): the norm is
# still over all parameters together, not clipped group by group.
@example(seed=0, sizes=[3, 3], lr=0.3, clip=0.05, split_groups=True)
def test_grad_clip_bounds_the_global_gradient_norm_before_each_step(kata, device, seed, sizes, lr, clip,
                                                                    split_groups):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, grad_clip=clip, split_groups=split_groups)
    expected, _ = sgd_steps(weight, bias, batches, lr, grad_clip=clip)
    # clip_grad_norm_ scales by clip / (norm + 1e-6); a clip by clip / norm differs by at most
    # 1e-6 / norm < 2e-5 relative (a clipped norm exceeds clip >= 0.05): hence rtol=1e-4.
    groups = "weight and bias in two param groups" if split_groups else "one param group"
    _check_steps(out, expected, what=f"gradient seen by optimizer.step() with grad_clip={clip:g}, {groups} "
                                     "(the norm over all parameters together)", rtol=1e-4, atol=1e-12)


@given(seed=tks.seeds(), sizes=any_sizes(), lr=LRS, clip=st.floats(min_value=0.05, max_value=2.0))
@example(seed=0, sizes=[3, 3], lr=0.3, clip=0.05)
def test_grad_clip_skips_a_frozen_parameter_without_gradient(kata, device, seed, sizes, lr, clip):
    # A frozen parameter (requires_grad=False, as when fine-tuning) has .grad None: the global
    # norm is over the gradients that exist, as clip_grad_norm_ does, and the frozen one never moves.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, grad_clip=clip, frozen_bias=True)
    expected, _ = sgd_steps(weight, bias, batches, lr, grad_clip=clip, frozen_bias=True)
    expect(len(out["steps"]) == len(expected),
           f"optimizer.step() was called {len(out['steps'])} times for {len(batches)} batches, expected {len(expected)}")
    for i, (got, want) in enumerate(zip(out["steps"], expected), 1):
        expect(got["grads"][0] is not None, f"at optimizer step {i} the weight has no gradient (.grad is None)")
        # rtol=1e-4: clip / (norm + 1e-6) against clip / norm, as in the test above.
        assert_close(got["grads"][0].cpu(), want["grads"][0], rtol=1e-4, atol=1e-12,
                     what=f"weight gradient at optimizer step {i} with grad_clip={clip:g} and a frozen bias "
                          "(.grad None: leave it out of the norm)")
    _assert_params(out, expected[-1]["params"],
                   lambda name: f"model {name} after one epoch with grad_clip={clip:g} and a frozen bias")


@pytest.mark.parametrize("k", [1, 2])
@given(seed=tks.seeds(), sizes=any_sizes(), lr=LRS)
def test_grad_clip_zero_clips_every_gradient_to_zero(kata, device, k, seed, sizes, lr):
    # grad_clip=0.0 is set (not None): the global norm is clipped to 0, as clip_grad_norm_(params, 0)
    # does, so every step sees zero gradients and the parameters never move. `if grad_clip:` skips it.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, grad_clip=0.0, accumulation_steps=k)
    expected, _ = sgd_steps(weight, bias, batches, lr, accumulation_steps=k, grad_clip=0.0)
    _check_steps(out, expected, what=f"gradient seen by optimizer.step() with grad_clip=0.0 and accumulation_steps={k} "
                                     "(clipping to a norm of 0 zeroes the gradient; test `grad_clip is not None`)",
                 rtol=0.0, atol=1e-12)  # the expected gradients are exact zeros


@given(seed=tks.seeds(), sizes=any_sizes(min_batches=2), k=st.integers(min_value=2, max_value=3), lr=LRS,
       clip=st.floats(min_value=0.05, max_value=2.0))
@example(seed=0, sizes=[3, 3, 3, 3, 3], k=2, lr=0.3, clip=0.05)
def test_grad_clip_with_accumulation_clips_each_groups_summed_gradient(kata, device, seed, sizes, k, lr, clip):
    # Clipping and accumulation together: the norm is that of the whole group's gradient, clipped
    # once, just before its step (clipping each batch's partial sum gives a different update).
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.train_epoch, weight, bias, batches, device, lr, grad_clip=clip, accumulation_steps=k)
    expected, _ = sgd_steps(weight, bias, batches, lr, accumulation_steps=k, grad_clip=clip)
    # rtol=1e-4: clip / (norm + 1e-6) against clip / norm, as in the test above.
    _check_steps(out, expected, what=f"gradient seen by optimizer.step() with grad_clip={clip:g} and "
                                     f"accumulation_steps={k} (clip the group's summed gradient once, before "
                                     "its step)", rtol=1e-4, atol=1e-12)


# =============================================================================== evaluate

@given(seed=tks.seeds(), sizes=ragged_sizes())
def test_evaluate_returns_the_sample_weighted_mean_loss(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device)
    expect("loss" in out["result"], f"evaluate returned keys {list(out['result'])}, expected 'loss' and 'accuracy'")
    loss, _ = full_metrics(weight, bias, batches)
    assert_close(_scalar(out["result"]["loss"]), _scalar(loss),
                 what=f"evaluate(...)['loss'] with batch sizes {sizes} (a mean over samples, not of batch means)")


@given(seed=tks.seeds(), sizes=ragged_sizes())
def test_evaluate_returns_the_fraction_of_argmax_hits(kata, device, seed, sizes):
    # Continuous random logits: ties in argmax have probability 0.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device)
    expect("accuracy" in out["result"],
           f"evaluate returned keys {list(out['result'])}, expected 'loss' and 'accuracy'")
    _, accuracy = full_metrics(weight, bias, batches)
    assert_close(_scalar(out["result"]["accuracy"]), _scalar(accuracy),
                 what=f"evaluate(...)['accuracy'] with batch sizes {sizes} (hits / number of samples)")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_returns_python_floats(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device)
    expect(out["result_is_dict"], "evaluate must return a dict {'loss': float, 'accuracy': float}")
    for key in ("loss", "accuracy"):
        expect(out["result_types"].get(key) in ("float", "float64"),
               f"evaluate(...)[{key!r}] is a {out['result_types'].get(key, 'missing key')}, expected a Python float")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_runs_the_model_in_eval_mode(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device, start_training=True)
    expect(out["forward"], "evaluate never called the model")
    bad = [i for i, call in enumerate(out["forward"], 1)
           if call["training"] or call["child_training"] or call["grandchild_training"]]
    expect(not bad, f"the model was in train mode during evaluation forward pass(es) {bad}; call model.eval()")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_tracks_no_gradients(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device)
    expect(out["forward"], "evaluate never called the model")
    bad = [i for i, call in enumerate(out["forward"] + out["loss_calls"], 1) if call["grad_enabled"]]
    expect(not bad, "gradient tracking was on while evaluate ran the model or the loss: "
                    "wrap the pass in torch.no_grad() (or torch.inference_mode())")


@pytest.mark.parametrize("was_training", [True, False], ids=["from_train", "from_eval"])
@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_restores_the_previous_mode(kata, device, was_training, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device, start_training=was_training)
    before = "train" if was_training else "eval"
    after = "train" if out["training_after"] else "eval"
    expect(out["training_after"] == was_training and out["child_training_after"] == was_training
           and out["grandchild_training_after"] == was_training,
           f"the model was in {before} mode before evaluate and in {after} mode after it; "
           "restore the mode it had")


# Contract decision (lead engineer): "the model's previous train/eval mode is restored afterwards"
# means every submodule's own mode. A model in train mode may hold a submodule frozen in eval (a
# BatchNorm whose statistics are being kept fixed); after evaluate it must still be in eval.
# `model.train(was_training)` on the top module alone is wrong: it switches that submodule to train.
# The model is nested two deep (model -> linear -> act): "every submodule" includes a grandchild,
# which a restore over model.children() alone misses.
@pytest.mark.parametrize("parent,child,grandchild", [(True, False, False), (False, True, True), (True, True, False)],
                         ids=["frozen_child", "training_child", "frozen_grandchild"])
@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_restores_every_submodules_own_mode(kata, device, parent, child, grandchild, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device, start_training=parent, child_training=child,
                   grandchild_training=grandchild)
    name = lambda training: "train" if training else "eval"  # noqa: E731
    after = (out["training_after"], out["child_training_after"], out["grandchild_training_after"])
    expect(after == (parent, child, grandchild),
           f"before evaluate the model, its submodule and that submodule's own submodule were in "
           f"{'/'.join(map(name, (parent, child, grandchild)))} mode; after it, {'/'.join(map(name, after))}. "
           "Restore every submodule's own mode, at every depth (e.g. record m.training for m in "
           "model.modules()), not only the top module's or its direct children's: model.train(flag) sets "
           "every submodule below it to the same mode")


@pytest.mark.parametrize("grad_enabled", [True, False], ids=["grad_on", "grad_off"])
def test_evaluate_restores_the_callers_grad_mode(kata, device, grad_enabled):
    weight, bias, batches, _ = make_data(0, [3, 2])
    out = kata.run(d13.evaluate, weight, bias, batches, device, grad_enabled=grad_enabled)
    expect(out["grad_enabled_after"] == grad_enabled,
           f"gradient tracking was {'on' if grad_enabled else 'off'} before evaluate and "
           f"{'on' if out['grad_enabled_after'] else 'off'} after it: use `with torch.no_grad():` (it restores "
           "the caller's mode) rather than torch.set_grad_enabled(False)")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_moves_batches_to_the_device(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device)
    expect(out["forward"] and out["loss_calls"], "evaluate never called the model and the loss")
    for who, calls in (("the model's input x", out["forward"]), ("the loss's target y", out["loss_calls"])):
        for i, call in enumerate(calls, 1):
            expect(call["moved"] and call["on_device"],
                   f"batch {i}: {who} was not moved with .to(device) (it is on {call['device']}, "
                   f"device={device}); move both x and y of every batch")


@given(seed=tks.seeds(), sizes=ragged_sizes())
def test_evaluate_makes_one_pass_over_a_one_shot_loader(kata, device, seed, sizes):
    # A loader is any iterable: a generator of batches, gone once iterated, gives the same metrics.
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device, one_shot=True)
    loss, accuracy = full_metrics(weight, bias, batches)
    for key, want in (("loss", loss), ("accuracy", accuracy)):
        expect(key in out["result"], f"evaluate returned keys {list(out['result'])}, expected 'loss' and 'accuracy'")
        assert_close(_scalar(out["result"][key]), _scalar(want),
                     what=f"evaluate(...)[{key!r}] over a one-shot iterator of batches {sizes} (go over the loader once)")


@given(seed=tks.seeds(), sizes=any_sizes())
def test_evaluate_leaves_parameters_and_gradients_untouched(kata, device, seed, sizes):
    weight, bias, batches, _ = make_data(seed, sizes)
    out = kata.run(d13.evaluate, weight, bias, batches, device)
    expect(all(g is None for g in out["grads"]), "evaluate left gradients on the parameters (no backward here)")
    _assert_params(out, (weight, bias),
                   lambda name: f"model {name} after evaluate (it must not change)")


# ==================================================================================== fit

@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=3), val_sizes=ragged_sizes(max_batches=3),
       epochs=st.integers(min_value=1, max_value=3), lr=LRS)
def test_fit_records_each_epochs_train_and_validation_metrics(kata, device, seed, sizes, val_sizes, epochs, lr):
    weight, bias, train, val = make_data(seed, sizes, val_sizes)
    out = kata.run(d13.fit, weight, bias, train, val, device, epochs, lr)
    records = out["records"]
    expect(len(records) == epochs, f"fit returned {len(records)} records for epochs={epochs}, expected one per epoch")
    steps, losses = sgd_steps(weight, bias, train, lr, epochs=epochs)
    n, per = sum(sizes), len(train)
    for e, record in enumerate(records):
        missing = {"train_loss", "val_loss", "val_accuracy"} - set(record)
        expect(not missing, f"fit's record for epoch {e} lacks {sorted(missing)}")
        epoch_losses = losses[e * per:(e + 1) * per]
        train_loss = sum(v * m for v, m in epoch_losses) / n
        val_loss, val_accuracy = full_metrics(*steps[(e + 1) * per - 1]["params"], val)
        for key, want in (("train_loss", train_loss), ("val_loss", val_loss), ("val_accuracy", val_accuracy)):
            assert_close(_scalar(record[key]), _scalar(want), what=f"fit's record[{e}][{key!r}]")


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2), epochs=st.integers(min_value=2, max_value=4),
       gamma=st.floats(min_value=0.1, max_value=0.9))
def test_fit_steps_the_scheduler_once_per_epoch(kata, device, seed, sizes, epochs, gamma):
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, epochs, 0.1, gamma=gamma)
    expect(out["scheduler_calls"] == epochs,
           f"scheduler.step() was called {out['scheduler_calls']} times in {epochs} epochs, expected once per epoch")
    for i, step in enumerate(out["steps"]):
        epoch = i // len(train)
        assert_close(_scalar(step["lr"]), _scalar(0.1 * gamma ** epoch),
                     what=f"learning rate used in epoch {epoch} (lr=0.1, scheduler multiplying it by {gamma:g} "
                          "per step)")


VAL_VALUES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)   # exact in binary: ties compare exactly


@st.composite
def stopping_scripts(draw):
    """(val losses per epoch, patience): some epochs, then `patience` epochs without a lower
    loss (ties included), then epochs that must never run."""
    patience = draw(st.integers(min_value=1, max_value=3), label="patience")
    prefix = draw(st.lists(st.sampled_from(VAL_VALUES), min_size=1, max_size=4), label="prefix")
    floor = min(prefix)
    tail = draw(st.lists(st.sampled_from([v for v in VAL_VALUES if v >= floor]), min_size=patience,
                         max_size=patience), label="tail")
    extra = draw(st.lists(st.sampled_from(VAL_VALUES), min_size=1, max_size=2), label="extra")
    return prefix + tail + extra, patience


def _expect_best_buffers(out, best, when):
    # "loads the best epoch's weights": the model as it was after that epoch, i.e. its
    # state_dict (the README: keep a copy of model.state_dict()), buffers included. The model's
    # child counts its train-mode forward passes in a buffer, as BatchNorm's num_batches_tracked
    # does (its running statistics likewise): a copy of the parameters alone leaves the last
    # epoch's buffers in a model that otherwise has the best epoch's weights. The expected value
    # is the buffer as the validation of the best epoch found it (the driver reads it there).
    seen = out["tracked_at_validation"]
    expect(len(seen) > best, f"{when}: the validation loader was gone over {len(seen)} times, expected "
                             "once per epoch")
    want = seen[best]
    expect(out["batches_tracked"] == want,
           f"{when}: after fit the model's buffer num_batches_tracked (a BatchNorm-like counter of training "
           f"batches) is {out['batches_tracked']}, expected {want}, its value after epoch {best} (the best): "
           "save and load the whole model.state_dict() (parameters and buffers), not only the parameters")


def early_stop(script, patience):
    """(number of epochs run, index of the best epoch)."""
    best, best_epoch, bad = math.inf, None, 0
    for e, v in enumerate(script):
        if v < best:
            best, best_epoch, bad = v, e, 0
        else:
            bad += 1
            if bad >= patience:
                return e + 1, best_epoch
    return len(script), best_epoch


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2), script=stopping_scripts())
# Epoch 2 is better than epoch 1 but not than epoch 0, the best: it does not reset the count.
@example(seed=0, sizes=[2], script=([1.0, 2.0, 1.5, 1.75, 0.5, 0.5], 3))
# Any lower val_loss counts, however small the improvement (no min_delta): 1 - 2^-20 < 1.
@example(seed=0, sizes=[2], script=([1.0, 1.0 - 2.0 ** -20, 2.0, 2.0], 1))
def test_fit_stops_after_patience_epochs_without_a_lower_val_loss(kata, device, seed, sizes, script):
    script, patience = script
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, len(script), 0.1, patience=patience,
                   val_script=list(script))
    ran, _ = early_stop(script, patience)
    expect(len(out["records"]) == ran,
           f"with val losses {script} per epoch and patience={patience}, fit should stop after epoch {ran} "
           f"(patience consecutive epochs without a strictly lower val loss), but it ran {len(out['records'])}")


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2), script=stopping_scripts(), lr=LRS)
def test_fit_restores_the_best_epochs_weights_when_stopping_early(kata, device, seed, sizes, script, lr):
    script, patience = script
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, len(script), lr, patience=patience,
                   val_script=list(script))
    _, best = early_stop(script, patience)
    steps, _ = sgd_steps(weight, bias, train, lr, epochs=best + 1)
    _assert_params(out, steps[-1]["params"],
                   lambda name: f"model {name} after fit stopped early: val losses {script}, "
                                f"patience={patience}, so the weights after epoch {best} (the best) "
                                "must be loaded back")
    _expect_best_buffers(out, best, f"fit stopped early (val losses {script}, patience={patience})")


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2),
       script=st.lists(st.sampled_from(VAL_VALUES), min_size=2, max_size=4), extra=st.integers(0, 2), lr=LRS)
@example(seed=0, sizes=[2], script=[1.0, 0.5, 1.5], extra=0, lr=0.3)  # epochs run out 1 epoch after the best
def test_fit_loads_the_best_weights_when_the_epochs_run_out_before_patience(kata, device, seed, sizes, script,
                                                                            extra, lr):
    # The contract: when patience is set, fit loads the best epoch's weights before returning,
    # whether it stopped early or ran every epoch (patience >= epochs here: it never stops).
    patience = len(script) + extra
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, len(script), lr, patience=patience,
                   val_script=list(script))
    expect(len(out["records"]) == len(script),
           f"fit stopped after {len(out['records'])} of {len(script)} epochs with val losses {script} and "
           f"patience={patience}")
    best = script.index(min(script))
    steps, _ = sgd_steps(weight, bias, train, lr, epochs=best + 1)
    _assert_params(out, steps[-1]["params"],
                   lambda name: f"model {name} after fit ran all {len(script)} epochs: val losses {script}, "
                                f"patience={patience}, so the weights after epoch {best} (the best) must "
                                "be loaded back before returning, even without an early stop")
    _expect_best_buffers(out, best, f"fit ran all {len(script)} epochs (val losses {script}, patience={patience})")


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2),
       script=st.lists(st.sampled_from(VAL_VALUES), min_size=2, max_size=4), lr=LRS)
@example(seed=0, sizes=[2], script=[0.5, 1.0, 1.5], lr=0.3)  # the first epoch is the best
def test_fit_without_patience_keeps_the_last_epochs_weights(kata, device, seed, sizes, script, lr):
    # Loading the best epoch's weights is part of early stopping (patience set); without it the
    # model is left as the last epoch trained it, whatever the validation losses were.
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, len(script), lr, val_script=list(script))
    steps, _ = sgd_steps(weight, bias, train, lr, epochs=len(script))
    _assert_params(out, steps[-1]["params"],
                   lambda name: f"model {name} after fit without patience (val losses {script}): the "
                                f"weights after the last of {len(script)} epochs (load the best epoch's "
                                "weights only when patience is set)")


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2), script=stopping_scripts(),
       gamma=st.floats(min_value=0.1, max_value=0.9))
def test_fit_steps_the_scheduler_on_every_epoch_when_stopping_early(kata, device, seed, sizes, script, gamma):
    # The scheduler and early stopping together: the epoch that stops training ran, so it steps too.
    script, patience = script
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, len(script), 0.1, gamma=gamma, patience=patience,
                   val_script=list(script))
    ran, _ = early_stop(script, patience)
    expect(out["scheduler_calls"] == ran,
           f"fit ran {len(out['records'])} epochs (val losses {script}, patience={patience}) and stepped the "
           f"scheduler {out['scheduler_calls']} times; expected {ran} epochs and one step each, the last "
           "epoch included")


@FEW
@given(seed=tks.seeds(), sizes=any_sizes(max_batches=2), script=stopping_scripts())
def test_fit_runs_every_epoch_without_patience(kata, device, seed, sizes, script):
    script, _ = script
    weight, bias, train, val = make_data(seed, sizes, [3])
    out = kata.run(d13.fit, weight, bias, train, val, device, len(script), 0.1, val_script=list(script))
    expect(len(out["records"]) == len(script),
           f"fit without patience ran {len(out['records'])} of {len(script)} epochs (val losses {script}); "
           "it must not stop early")


def test_fit_loss_falls_on_a_learnable_problem(kata, device):
    # Three well separated Gaussian blobs (fixed seed, not random per run): a linear model
    # trained by SGD learns them; the training loss falls every epoch and validation is near perfect.
    g = torch.Generator().manual_seed(1234)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 3.0], [0.0, -3.0]])

    def blobs(n):
        y = torch.arange(n) % 3
        return centres[y] + torch.randn(n, 2, generator=g), y

    x_train, y_train = blobs(96)
    x_val, y_val = blobs(48)
    records = kata.run(d13.fit_learnable, x_train, y_train, x_val, y_val, device, 5, 0.1, 16)
    losses = [r.get("train_loss", math.nan) for r in records]
    expect(len(records) == 5 and all(b < a for a, b in zip(losses, losses[1:])),
           f"training loss per epoch on a learnable problem: {losses}; expected 5 epochs, falling")
    expect(records[-1].get("val_accuracy", 0.0) >= 0.95,
           f"validation accuracy after 5 epochs on well separated blobs: {records[-1].get('val_accuracy')}; "
           "expected at least 0.95")
