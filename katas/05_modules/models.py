"""Kata 05 · nn.Module vs nn.Sequential, parameters and hooks.

Build networks two ways (an nn.Sequential assembled from a list, and an nn.Module subclass
with its own forward), count their parameters the way optimizers see them, and record
intermediate outputs with forward hooks that never outlive the call. See README.md.
"""
from __future__ import annotations

from torch import Tensor, nn


def make_mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A feed-forward network as an nn.Sequential.

    sizes = [d0, d1, ..., dk]  ->  Linear(d0, d1), activation(), Linear(d1, d2), activation(), ...,
    Linear(d(k-1), dk): one activation instance between consecutive Linears, none after the last.
    activation is a class (nn.ReLU, nn.Tanh, ...), not an instance.
    Input (..., d0) -> output (..., dk).
    """
    raise NotImplementedError("make_mlp: build a list [Linear, activation(), Linear, ..., Linear] and "
                              "return nn.Sequential(*layers)")


class ResidualMLP(nn.Module):
    """depth residual blocks, applied in order; each block maps x to

        x + Linear(hidden -> dim)(ReLU(Linear(dim -> hidden)(x)))      # (..., dim) -> (..., dim)

    Each block holds its two nn.Linear layers (with bias), registered in the order they are applied.
    """

    def __init__(self, dim: int, hidden: int, depth: int):
        super().__init__()
        raise NotImplementedError("ResidualMLP.__init__: register depth blocks (e.g. an nn.ModuleList), "
                                  "each with Linear(dim, hidden) and Linear(hidden, dim)")

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., dim) -> (..., dim)"""
        raise NotImplementedError("ResidualMLP.forward: for each block, x = x + fc2(relu(fc1(x)))")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """The number of scalars in model's parameters (buffers are not parameters).

    trainable_only=True counts only parameters with requires_grad. A Parameter held by several
    modules (a shared layer, tied weights) counts once.
    """
    raise NotImplementedError("count_parameters: sum p.numel() over each distinct parameter "
                              "(only those with requires_grad when trainable_only)")


def capture_activations(model: nn.Module, x: Tensor, names: list[str]) -> dict[str, Tensor]:
    """{name: output of that submodule} recorded during one call model(x).

    names are as in model.named_modules() ('' is the model itself, '2.0' a child of child '2').
    Raises KeyError for a name that is not a submodule. Every hook this function adds is removed
    before it returns, also when model(x) raises (the error propagates) and when it raises KeyError.
    """
    raise NotImplementedError("capture_activations: register_forward_hook on each named submodule, "
                              "run model(x), remove every handle in a finally block")
