"""The pytest plugin, run as a user would run it (pytester: a real pytest in a subprocess)."""
from conftest import RELU_TEST


def run(pytester, *args):
    return pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")


def test_kata_folder_runs_its_hidden_suite_against_the_stub(mini_project):
    result = run(mini_project, "katas/06_activations", "--torchkata-device", "cpu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NotImplementedError: relu: keep the positive part*"])
    result.stdout.fnmatch_lines(["*test_06_activations.py::test_relu_matches_torch*"])


def test_reference_folder_passes(mini_project):
    run(mini_project, "reference/06_activations", "--torchkata-device", "cpu").assert_outcomes(passed=1)


def test_impl_option_points_the_suite_at_any_folder(mini_project):
    mini_project.write("elsewhere/06_activations/activations.py", "def relu(x):\n    return x * (x > 0)\n")
    run(mini_project, "tests", "--torchkata-impl", "elsewhere", "--torchkata-device", "cpu").assert_outcomes(passed=1)


def test_missing_module_is_skipped_with_a_reason(mini_project):
    (mini_project.path / "empty").mkdir()
    result = run(mini_project, "tests", "--torchkata-impl", "empty", "--torchkata-device", "cpu", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no activations.py in*"])


def test_cuda_is_skipped_with_a_reason_not_dropped(mini_project):
    import torch

    result = run(mini_project, "reference/06_activations", "-rs")
    if torch.cuda.is_available():
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, skipped=1)
        result.stdout.fnmatch_lines(["*cuda: torch.cuda.is_available() is False*"])


def test_syntax_error_is_one_clear_line(mini_project):
    mini_project.write("broken/06_activations/activations.py", "def relu(x)\n    return x\n")
    result = run(mini_project, "tests", "--torchkata-impl", "broken", "--torchkata-device", "cpu")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*activations.py:1: syntax error*"])
    assert "Traceback" not in result.stdout.str()


def test_wrong_signature_names_the_expected_parameters(mini_project):
    mini_project.write("wrongsig/06_activations/activations.py", "def relu(t):\n    return t.clamp_min(0)\n")
    result = run(mini_project, "tests", "--torchkata-impl", "wrongsig", "--torchkata-device", "cpu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*relu has parameters (t); the catalog asks for (x)*"])


def test_forbidden_callable_named_in_source_is_rejected(mini_project):
    mini_project.write("named/06_activations/activations.py",
                       "import torch.nn.functional as F\n\ndef relu(x):\n    return F.relu(x)\n")
    result = run(mini_project, "tests", "--torchkata-impl", "named", "--torchkata-device", "cpu")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*names a forbidden callable: torch.nn.functional.relu (line 4)*"])


def test_forbidden_callable_reached_through_a_string_raises_at_run_time(mini_project):
    mini_project.write("sneaky/06_activations/activations.py",
                       "import torch\n\ndef relu(x):\n    return getattr(torch, 're' + 'lu')(x)\n")
    result = run(mini_project, "tests", "--torchkata-impl", "sneaky", "--torchkata-device", "cpu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ForbiddenCallableError: torch.relu is forbidden in kata 06_activations*"])


def test_modifying_an_input_in_place_fails(mini_project):
    # Contiguous inputs: writing into an expanded (stride-0) input is already a RuntimeError in torch.
    mini_project.write("tests/test_06_activations.py", RELU_TEST.replace("dtype=tks.float_dtypes()",
                                                                       "dtype=tks.float_dtypes(), layout='contiguous'"))
    mini_project.write("inplace/06_activations/activations.py", "def relu(x):\n    return x.clamp_min_(0)\n")
    result = run(mini_project, "tests", "--torchkata-impl", "inplace", "--torchkata-device", "cpu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*relu modified its input (argument 0) in place*"])


def test_an_exception_in_the_solution_shows_its_frames_not_the_plugins(mini_project):
    mini_project.write("crash/06_activations/activations.py", """\
        def _positive_part(x):
            return x.flatten()[10**9]

        def relu(x):
            return _positive_part(x)
        """)
    result = run(mini_project, "tests", "--torchkata-impl", "crash", "--torchkata-device", "cpu")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*crash/06_activations/activations.py:5: in relu*",
                                 "*def _positive_part(x):*",
                                 "*IndexError: index 1000000000 is out of bounds*"])
    for machinery in ("torchkata/harness.py", "torchkata/plugin.py", "hypothesis/core.py", "_pytest/"):
        assert machinery not in out, f"{machinery} in the traceback:\n{out}"


def test_a_gradient_mismatch_names_the_input_and_the_maximum_error(mini_project):
    mini_project.write("tests/test_06_activations.py", """\
        import torch
        from torchkata.testing import assert_close

        def test_relu_gradient(kata, device):
            x = torch.tensor([-1.0, 2.0, 3.0], dtype=torch.float64, device=device)
            _, (grad,) = kata.grad("relu", x)
            assert_close(grad, (x > 0).to(x.dtype), what="d relu / dx", inputs={"x": x})
        """)
    mini_project.write("leaky/06_activations/activations.py", "def relu(x):\n    return x.clamp_min(0) + 0.25 * x\n")
    result = run(mini_project, "tests", "--torchkata-impl", "leaky", "--torchkata-device", "cpu")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*d relu / dx: 3 of 3 elements differ*",
                                 "*first at index (0,): expected 0.0, got 0.25*",
                                 "*max abs error 0.25, max rel error inf*",
                                 "*x = tensor(shape=(3,), dtype=torch.float64, device=cpu) = ?-1.0, 2.0, 3.0?*"])


def test_verify_mode_reports_a_surviving_mutant_and_fails(mini_project):
    mini_project.write("katas/06_activations/README.md", "# relu\n")
    mini_project.write("tests/mutants/06_activations.toml", '''
        [[mutant]]
        mistake = "softmax over the wrong dim"
        find = "x.clamp_min(0)"
        replace = "x.clamp_min(0) + 0.0"
        ''')
    result = run(mini_project, "tests", "--torchkata-verify", "--torchkata-device", "cpu", "--tb=no")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*mutants not caught: softmax over the wrong dim*"])


def test_verify_mode_passes_when_the_mutant_is_caught(mini_project):
    mini_project.write("katas/06_activations/README.md", "# relu\n")
    mini_project.write("tests/mutants/06_activations.toml", '''
        [[mutant]]
        mistake = "softmax over the wrong dim"
        find = "x.clamp_min(0)"
        replace = "x.clamp_min(-1)"
        ''')
    result = run(mini_project, "tests", "--torchkata-verify", "--torchkata-device", "cpu", "--tb=no")
    result.stdout.fnmatch_lines(["*06_activations*1/1*1/1*1/1*"])


def test_verify_mode_with_k_judges_only_what_ran(mini_project):
    """`make kata K=… M=mutant2`: the deselected mutant is 'not run', not a survivor."""
    mini_project.write("katas/06_activations/README.md", "# relu\n")
    mini_project.write("tests/mutants/06_activations.toml", '''
        [[mutant]]
        mistake = "softmax over the wrong dim"
        find = "x.clamp_min(0)"
        replace = "x.clamp_min(0) + 0.0"

        [[mutant]]
        beyond = "a shifted relu"
        find = "x.clamp_min(0)"
        replace = "x.clamp_min(-1)"
        ''')
    result = run(mini_project, "tests", "--torchkata-verify", "--torchkata-device", "cpu", "--tb=no",
                 "-k", "mutant2 or reference")
    # (the mini project's kata defines one function of six: its static problems keep the verdict short)
    result.stdout.fnmatch_lines(["*06_activations*1/1*0/0*1/1*", "*partial run (-k/-m): 1 mutants not run*"])
    assert "mutants not caught" not in result.stdout.str()


REJECTION_ONLY = '''\
    import pytest
    import torch

    def test_relu_rejects_a_list(kata, device):
        with pytest.raises(TypeError):
            kata.call("relu", [1.0, -1.0])
    '''


def test_verify_mode_fails_a_rejection_test_that_a_refusing_stub_passes(mini_project):
    """The refuser (the stub, raising one exception of every type instead of NotImplementedError)
    must fail every test: a rejection alone must not earn points for no work."""
    mini_project.write("katas/06_activations/README.md", "# relu\n")
    mini_project.write("tests/mutants/06_activations.toml", "")
    mini_project.write("tests/test_06_activations.py", REJECTION_ONLY)
    result = run(mini_project, "tests", "--torchkata-verify", "--torchkata-device", "cpu", "--tb=no")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*06_activations*1/1*0/1*SHORTFALL*",
                                 "*the refuser passes*test_relu_rejects_a_list*"])
    # The same rejection after an accepted case of the same function: the refuser fails it.
    mini_project.write("tests/test_06_activations.py", REJECTION_ONLY.replace(
        "    with pytest.raises", "    assert torch.equal(kata.call('relu', torch.tensor([-1.0, 2.0])), "
        "torch.tensor([0.0, 2.0]))\n        with pytest.raises"))
    result = run(mini_project, "tests", "--torchkata-verify", "--torchkata-device", "cpu", "--tb=no")
    assert "the refuser passes" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*06_activations*1/1*1/1*"])
