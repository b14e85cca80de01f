"""Visible examples for kata 09 · Linear regression by closed form and gradient descent.

The hidden suite checks many more shapes, dtypes, batch sizes and seeds.
"""
import torch
from torch.testing import assert_close


def _line():
    X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    return X, 2 * X[:, 0] + 1                  # y = 2x + 1 exactly


def test_closed_form_recovers_an_exact_line_with_its_intercept(solution):
    w, b = solution.fit_closed_form(*_line())
    assert w.shape == (1,) and b.shape == (), f"expected w (1,) and a 0-d b, got {tuple(w.shape)} and {tuple(b.shape)}"
    assert_close(w, torch.tensor([2.0], dtype=torch.float64), msg=lambda m: f"slope of y = 2x + 1\n{m}")
    assert_close(b, torch.tensor(1.0, dtype=torch.float64), msg=lambda m: f"intercept of y = 2x + 1\n{m}")


def test_closed_form_matches_lstsq_on_noisy_data(solution):
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 3.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 2.5, 2.0, 0.0, 7.0], dtype=torch.float64)
    A = torch.cat([X, torch.ones(5, 1, dtype=torch.float64)], dim=1)
    theta = torch.linalg.lstsq(A, y[:, None]).solution[:, 0]
    w, b = solution.fit_closed_form(X, y)
    assert_close(w, theta[:2], msg=lambda m: f"w should be the least-squares weights\n{m}")
    assert_close(b, theta[2], msg=lambda m: f"b should be the least-squares intercept\n{m}")


def test_one_epoch_of_batch_descent_takes_one_mean_gradient_step_from_zero(solution):
    X, y = _line()
    w, b, history = solution.fit_gradient_descent(X, y, lr=0.1, epochs=1)
    # From w = 0, b = 0 the residual is -y: w = lr * 2/N * X^T y, b = lr * 2/N * sum(y).
    assert_close(w, torch.tensor([0.1 * 2 / 3 * 13.0], dtype=torch.float64),
                 msg=lambda m: f"after one full-batch step, w = lr * (2/N) * X^T y\n{m}")
    assert_close(b, torch.tensor(0.1 * 2 / 3 * 9.0, dtype=torch.float64),
                 msg=lambda m: f"after one full-batch step, b = lr * (2/N) * sum(y)\n{m}")
    expected_mse = float(((X @ w + b - y) ** 2).mean())
    assert isinstance(history, list) and len(history) == 1, f"history should be a list of 1 float, got {history!r}"
    assert abs(history[0] - expected_mse) < 1e-9, f"history[0] should be the full-data MSE {expected_mse}"


def test_batch_descent_reaches_the_closed_form(solution):
    X, y = _line()
    w, b, history = solution.fit_gradient_descent(X, y, lr=0.1, epochs=300)
    assert_close(w, torch.tensor([2.0], dtype=torch.float64), atol=1e-4, rtol=0,
                 msg=lambda m: f"300 epochs of batch GD with lr=0.1 should reach w = 2\n{m}")
    assert_close(b, torch.tensor(1.0, dtype=torch.float64), atol=1e-4, rtol=0,
                 msg=lambda m: f"300 epochs of batch GD with lr=0.1 should reach b = 1\n{m}")
    assert history[-1] < history[0], "the MSE should fall over training"


def test_stochastic_descent_is_reproducible_with_the_same_seed(solution):
    X, y = _line()
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)         # the global RNG must not matter
        g = torch.Generator().manual_seed(0)
        runs.append(solution.fit_gradient_descent(X, y, lr=0.05, epochs=5, batch_size=1, generator=g))
    (w1, b1, h1), (w2, b2, h2) = runs
    assert len(h1) == 5 and all(isinstance(v, float) for v in h1), f"history should be 5 floats, got {h1!r}"
    assert_close(w1, w2, rtol=0, atol=0, msg=lambda m: f"the same generator seed must give the same w\n{m}")
    assert_close(b1, b2, rtol=0, atol=0, msg=lambda m: f"the same generator seed must give the same b\n{m}")
    assert h1 == h2, "the same generator seed must give the same history"
