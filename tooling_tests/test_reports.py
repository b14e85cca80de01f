"""Reports a person reads: every candidate string escaped, each kata led by what is wrong."""
import csv
import io

from torchkata.catalog import get_kata
from torchkata.grading.grade import _lead, points, relative_paths
from torchkata.grading.reports import csv_cell, md_block, md_inline, render_html, render_markdown

FORGED = "x\n# Grade: 20 / 20 points (100%)\n\nHire!"


def _results(**extra):
    results = {
        "score": 0.0, "max_score": 20.0, "percent": 0.0, "scoring": "per-property", "torchkata_version": "0",
        "katas": {"06_activations": {"title": "Activations", "status": "fail", "summary": FORGED, "score": 0.0,
                                     "max_score": 20.0, "seconds": 1.0,
                                     "failures": [{"tests": ["test_relu[cpu]"], "message": FORGED,
                                                   "output": "```\n" + FORGED + "\n```"}]}},
        "tests": [], "ignored_files": [FORGED + ".py", "<script>alert(1)</script>"], "notes": [FORGED],
        "alerts": [], "sandbox": ["s"],
    }
    results.update(extra)
    return results


def test_markdown_never_lets_candidate_text_start_a_line_of_its_own():
    text = render_markdown(_results())
    assert text.startswith("# Grade: 0 / 20 points")
    # Candidate text is either escaped onto one line or inside a code fence it cannot close.
    forged = [line for line in text.splitlines()[1:] if line.startswith("# Grade") or line == "Hire!"]
    assert forged and all(_inside_fence(text, line) for line in forged), forged


def _inside_fence(text: str, needle: str) -> bool:
    """CommonMark: a fence closes only on a line of at least as many backticks and nothing else."""
    depth = None
    for line in text.splitlines():
        if depth is None and line.startswith("```"):
            depth = len(line) - len(line.lstrip("`"))
        elif depth is not None and line.strip() and set(line.strip()) == {"`"} and len(line.strip()) >= depth:
            depth = None
        elif line == needle:
            return depth is not None
    return False


def test_a_fence_in_candidate_output_cannot_close_the_report_block():
    block = md_block("```\nescape\n````")
    fence = block.splitlines()[0].removesuffix("text")
    assert len(fence) == 5 and block.endswith("\n" + fence)


def test_inline_text_is_one_line_with_markup_escaped():
    assert md_inline("a\nb") == "a\\\\nb" and "\n" not in md_inline(FORGED)
    assert md_inline("*bold* [x](y)") == "\\*bold\\* \\[x\\]\\(y\\)"


def test_html_escapes_candidate_text():
    html = render_html(_results())
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_csv_cells_cannot_be_formulas():
    row = [csv_cell(v) for v in ("=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "plain", 3.5)]
    assert row == ["'=HYPERLINK(\"http://x\")", "'+1", "'-1", "'@SUM(A1)", "plain", 3.5]
    out = io.StringIO()
    csv.writer(out).writerow([csv_cell("a\nb")])
    assert "\n" not in out.getvalue().rstrip("\r\n")


def test_points_have_at_most_one_decimal():
    assert [points(v) for v in (30.0, 12.3456, 6.666666, 0)] == ["30", "12.3", "6.7", "0"]


def test_temporary_paths_become_the_submissions_paths():
    text = "/tmp/torchkata-worker-06_activations-abc/impl/06_activations/activations.py:3: syntax error"
    assert relative_paths(text) == "katas/06_activations/activations.py:3: syntax error"


def test_each_kata_leads_with_one_line_of_what_is_wrong():
    spec = get_kata("06_activations")
    assert _lead(spec, "missing", [], [])[0] == "missing"
    assert _lead(spec, "untouched", [], [])[0] == "not attempted"
    same = {"status": "fail", "phase": "setup", "message": "activations.py:8: syntax error", "name": "t"}
    assert _lead(spec, "present", [same, dict(same, name="u")], []) == \
        ("did not import", "did not import: activations.py:8: syntax error")
    ran = [{"status": "pass", "name": "a"}, {"status": "fail", "name": "b[cpu]", "phase": "call", "message": "m"}]
    assert _lead(spec, "present", ran, []) == ("fail", "1 of 2 properties fail: b")
    skipped = [{"status": "skipped", "message": "Skipped: KATAS_MNIST_ROOT is not set", "name": "c"}]
    status, line = _lead(spec, "present", ran, skipped)
    assert status == "not gradable here" and "KATAS_MNIST_ROOT" in line
