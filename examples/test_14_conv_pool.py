"""Visible examples for kata 14 · Convolution and pooling from scratch."""
import torch
import torch.nn.functional as F


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_conv_output_size_of_a_few_settings(solution):
    cases = {(28, 3, 2, 1, 1): 14, (5, 3, 1, 0, 1): 3, (7, 3, 1, 0, 2): 3, (6, 2, 2, 0, 1): 3}
    for (size, k, s, p, d), expected in cases.items():
        got = solution.conv_output_size(size, k, stride=s, padding=p, dilation=d)
        assert got == expected, (f"conv_output_size(size={size}, kernel={k}, stride={s}, padding={p}, "
                                 f"dilation={d}) is {got}, expected {expected}")


def test_conv2d_is_a_cross_correlation_not_a_flipped_convolution(solution):
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    w = torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
    torch.testing.assert_close(solution.conv2d(x, w), torch.full((1, 1, 3, 3), -5.0),
                               msg="each output should be x[i, j] - x[i+1, j+1] = -5 (no kernel flip)")


def test_conv2d_with_stride_padding_dilation_groups_and_bias_matches_torch(solution):
    x, w, b = _rand(2, 4, 6, 5, seed=1), _rand(6, 2, 3, 2, seed=2), _rand(6, seed=3)
    kwargs = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    torch.testing.assert_close(solution.conv2d(x, w, b, **kwargs), F.conv2d(x, w, b, **kwargs),
                               msg=f"conv2d with {kwargs} and a bias differs from F.conv2d")


def test_conv1d_matches_torch(solution):
    x, w, b = _rand(2, 3, 9, seed=4), _rand(4, 3, 3, seed=5), _rand(4, seed=6)
    kwargs = dict(stride=2, padding=1, dilation=2)
    torch.testing.assert_close(solution.conv1d(x, w, b, **kwargs), F.conv1d(x, w, b, **kwargs),
                               msg=f"conv1d with {kwargs} differs from F.conv1d")


def test_max_pool2d_treats_padding_as_minus_infinity(solution):
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    expected = torch.tensor([[[[0.0, -1.0, -3.0], [-4.0, -5.0, -7.0], [-12.0, -13.0, -15.0]]]])
    torch.testing.assert_close(solution.max_pool2d(-x, 2, padding=1), expected,
                               msg="max_pool2d(-x, 2, padding=1): zero padding must never win a window")


def test_sum_and_avg_pool2d_default_stride_to_the_kernel_size(solution):
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(solution.sum_pool2d(x, 2), torch.tensor([[[[10.0, 18.0], [42.0, 50.0]]]]),
                               msg="sum_pool2d(x, 2) should sum the four non-overlapping 2x2 windows")
    y = _rand(1, 2, 5, 6, seed=7)
    torch.testing.assert_close(solution.avg_pool2d(y, (3, 2), padding=1),
                               F.avg_pool2d(y, (3, 2), padding=1, count_include_pad=True),
                               msg="avg_pool2d(y, (3, 2), padding=1) differs from F.avg_pool2d")
