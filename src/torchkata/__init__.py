"""torchkata: PyTorch coding katas with hidden pytest + hypothesis suites."""

__version__ = "0.1.0"
