"""nn.Module vs nn.Sequential, parameters and hooks (reference solution)."""
from __future__ import annotations

from torch import Tensor, nn


def make_mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear(sizes[0], sizes[1]), act, Linear(sizes[1], sizes[2]), act, ..., Linear(sizes[-2], sizes[-1])."""
    layers: list[nn.Module] = []
    n_linear = len(sizes) - 1
    for i in range(n_linear):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < n_linear - 1:  # between consecutive Linears only: the last layer's output stays linear
            layers.append(activation())
    return nn.Sequential(*layers)


class _ResidualBlock(nn.Module):
    """x + Linear(hidden -> dim)(ReLU(Linear(dim -> hidden)(x)))"""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(self.act(self.fc1(x)))


class ResidualMLP(nn.Module):
    """depth residual blocks applied in order; (..., dim) -> (..., dim)."""

    def __init__(self, dim: int, hidden: int, depth: int):
        super().__init__()
        self.blocks = nn.ModuleList(_ResidualBlock(dim, hidden) for _ in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalars in the model's parameters; a parameter shared by several modules counts once."""
    # named_parameters() yields each Parameter object once, however many modules hold it.
    params = [p for _, p in model.named_parameters()]
    if trainable_only:
        params = [p for p in params if p.requires_grad]
    return sum(p.numel() for p in params)


def capture_activations(model: nn.Module, x: Tensor, names: list[str]) -> dict[str, Tensor]:
    """{name: output of model.get_submodule(name)} recorded during one model(x)."""
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules]
    if missing:
        raise KeyError(f"no submodule named {missing[0]!r}; known names: {sorted(modules)}")
    captured: dict[str, Tensor] = {}

    def recorder(name: str):
        def hook(module, args, output):
            captured[name] = output
        return hook

    handles = []
    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(recorder(name)))
        model(x)
    finally:
        for handle in handles:  # also when the forward raises
            handle.remove()
    return {name: captured[name] for name in names}
