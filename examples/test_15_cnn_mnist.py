"""Visible examples for kata 15 · A CNN for MNIST (no MNIST data needed here)."""
import torch
from torch import nn

CPU = torch.device("cpu")


class FixedGuess(nn.Module):
    """Predicts class 0 in eval mode and class 9 in train mode; records the grad mode it ran under."""

    def __init__(self):
        super().__init__()
        self.grad_modes = []

    def forward(self, x):
        self.grad_modes.append(torch.is_grad_enabled())
        logits = torch.zeros(x.shape[0], 10)
        logits[:, 0 if not self.training else 9] = 1.0
        return logits


def test_mnist_cnn_maps_images_to_one_logit_per_class(solution):
    torch.manual_seed(0)
    x = torch.rand(5, 1, 28, 28)
    before = x.clone()
    out = solution.MnistCNN()(x)
    assert out.shape == (5, 10), f"MnistCNN()(x) for 5 images should give logits (5, 10), got {tuple(out.shape)}"
    torch.testing.assert_close(x, before, msg="forward must not modify its input")
    out = solution.MnistCNN(num_classes=3)(x[:2])
    assert out.shape == (2, 3), f"MnistCNN(num_classes=3) on 2 images should give (2, 3), got {tuple(out.shape)}"


def test_mnist_cnn_has_fewer_than_500k_parameters(solution):
    n = sum(p.numel() for p in solution.MnistCNN().parameters())
    assert 0 < n < 500_000, f"MnistCNN has {n} parameters; it should have fewer than 500,000"


def test_accuracy_counts_samples_in_eval_mode_and_restores_the_mode(solution):
    model = FixedGuess().train()
    loader = [(torch.rand(4, 1, 28, 28), torch.tensor([0, 0, 0, 0])),
              (torch.rand(1, 1, 28, 28), torch.tensor([3]))]             # a ragged last batch
    got = solution.accuracy(model, loader, CPU)
    assert isinstance(got, float), f"accuracy should return a Python float, got {type(got).__name__}"
    assert abs(got - 0.8) < 1e-12, (f"4 of 5 samples are hit in eval mode, so accuracy is 0.8; got {got} "
                                    "(0.5 is the mean of batch means, 0.0 means the model stayed in train mode)")
    assert not any(model.grad_modes), "accuracy should run the model under torch.no_grad()"
    assert model.training, "accuracy should leave the model in train mode, the mode it had before"


def test_train_mnist_returns_a_seeded_mnist_cnn(solution):
    g = torch.Generator().manual_seed(0)
    loader = [(torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(2)]
    first = solution.train_mnist(loader, CPU, epochs=1, seed=0)
    second = solution.train_mnist(loader, CPU, epochs=1, seed=0)
    assert isinstance(first, solution.MnistCNN), f"train_mnist should return an MnistCNN, got {type(first).__name__}"
    # Compared before any forward: a model returned in train mode updates its batch-norm statistics on a call.
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, msg=f"two runs with seed=0 on the same batches differ in {name}")
    assert first.eval()(loader[0][0]).shape == (8, 10), "the trained model should give (8, 10) logits for 8 images"
