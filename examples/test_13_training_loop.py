"""Visible examples for kata 13 · The training loop."""
import copy

import pytest
import torch
from torch import nn

CPU = torch.device("cpu")


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2, 0])
    return x, y


def _model():
    torch.manual_seed(0)
    return nn.Linear(2, 3).double()


def _batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def test_train_one_epoch_returns_the_sample_weighted_mean_loss(solution):
    x, y = _data()
    model = _model()
    expected = nn.functional.cross_entropy(model(x), y).item()     # lr=0: weights never change
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    got = solution.train_one_epoch(model, _batches(x, y, 2), nn.CrossEntropyLoss(), opt, CPU)
    assert isinstance(got, float), f"train_one_epoch should return a Python float, got {type(got).__name__}"
    assert got == pytest.approx(expected, rel=1e-9), (
        f"with batches of 2, 2 and 1 samples the epoch loss is {got}, expected the mean over all 5 samples "
        f"{expected} (not the mean of the three batch means)")


def test_train_one_epoch_with_one_batch_makes_one_sgd_step(solution):
    x, y = _data()
    model = _model()
    expected = copy.deepcopy(model)
    nn.functional.cross_entropy(expected(x), y).backward()
    with torch.no_grad():
        for p in expected.parameters():
            p -= 0.1 * p.grad
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    solution.train_one_epoch(model, [(x, y)], nn.CrossEntropyLoss(), opt, CPU)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, dict(expected.named_parameters())[name],
                                   msg=f"{name} after one batch should equal one SGD step (lr 0.1) on it")


def test_gradient_accumulation_equals_one_step_on_the_concatenated_batches(solution):
    x, y = _data()
    x, y = x[:4], y[:4]
    model = _model()
    expected = copy.deepcopy(model)
    opt_expected = torch.optim.SGD(expected.parameters(), lr=0.5)
    nn.functional.cross_entropy(expected(x), y).backward()
    opt_expected.step()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    solution.train_one_epoch(model, _batches(x, y, 2), nn.CrossEntropyLoss(), opt, CPU, accumulation_steps=2)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, dict(expected.named_parameters())[name],
                                   msg=f"{name}: two batches of 2 with accumulation_steps=2 should make the same "
                                       "update as one step on all 4 samples (divide each loss by 2)")


def test_evaluate_reports_loss_and_accuracy_and_restores_train_mode(solution):
    model = nn.Linear(2, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.eye(2, dtype=torch.float64))
        model.bias.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)   # argmax: 0, 1, 0
    y = torch.tensor([0, 0, 0])
    model.train()
    got = solution.evaluate(model, _batches(x, y, 2), nn.CrossEntropyLoss(), CPU)
    expected_loss = nn.functional.cross_entropy(x, y).item()
    assert got["accuracy"] == pytest.approx(2 / 3), f"2 of 3 argmaxes hit the label, got accuracy {got['accuracy']}"
    assert got["loss"] == pytest.approx(expected_loss, rel=1e-9), (
        f"loss is {got['loss']}, expected the mean over the 3 samples {expected_loss}")
    assert model.training, "evaluate should put the model back in train mode, the mode it had before"


def test_fit_records_each_epoch_steps_the_scheduler_and_stops_early(solution):
    x, y = _data()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)          # val_loss never improves after epoch 1
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = solution.fit(model, _batches(x, y, 2), _batches(x, y, 5), nn.CrossEntropyLoss(), opt, CPU,
                           epochs=10, scheduler=sched, patience=2)
    assert len(history) == 3, (f"with a constant val_loss and patience=2, fit should stop after 3 epochs "
                               f"(1 best + 2 without improvement), got {len(history)} records")
    assert set(history[0]) == {"train_loss", "val_loss", "val_accuracy"}, f"record keys are {set(history[0])}"
    assert sched.last_epoch == 3, f"the scheduler should be stepped once per epoch (3), was stepped {sched.last_epoch}"
