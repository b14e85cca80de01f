"""Grading reports for a person: Markdown and HTML (jinja2), from results.json's data.

Each kata leads with one line of what is wrong; identical failures are grouped. Every string
that can come from the candidate (file names, exception messages, captured output) is
escaped for the format it lands in: HTML by jinja's autoescape, Markdown by `md_inline`
(one line, markup characters escaped) and `md_block` (a fence longer than any in the text),
CSV cells by `csv_cell` (no formulas).
"""
from __future__ import annotations

import re

import jinja2

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def md_inline(text) -> str:
    """TEXT as one line of Markdown that renders as literal text (newlines shown as \\n)."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_block(text, info: str = "text") -> str:
    """TEXT in a fenced code block that nothing inside it can close."""
    text = _CONTROL.sub(lambda m: m.group() if m.group() in "\n\t" else repr(m.group())[1:-1], str(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def csv_cell(value):
    """A CSV cell a spreadsheet will not run as a formula (OWASP: = + - @ tab CR lead)."""
    if isinstance(value, str):
        value = _CONTROL.sub(" ", value)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
    return value


def points(value) -> str:
    """At most one decimal: 12, 12.5."""
    return f"{round(float(value), 1):g}"


_MARKDOWN = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True).from_string("""\
# Grade: {{ pts(r.score) }} / {{ pts(r.max_score) }} points ({{ pts(r.percent) }}%)

{% for a in r.alerts %}
> **{{ md(a) }}**
{% endfor %}
{% if r.alerts %}

{% endif %}
Scoring: {{ r.scoring }}.

| kata | score | what is wrong | seconds |
| --- | --- | --- | --- |
{% for id, k in r.katas.items() %}
| {{ id }} · {{ k.title }} | {{ bar(k.score, k.max_score) }} {{ pts(k.score) }} / {{ pts(k.max_score) }} | {{ md(k.summary) }} | {{ k.seconds }} |
{% endfor %}

{% for id, k in r.katas.items() if k.failures %}
## {{ id }}: {{ md(k.summary) }}

{% for g in k.failures %}
### {{ g.tests | length }} test{{ "s" if g.tests | length > 1 else "" }}: {{ md(g.message.strip().splitlines()[0] if g.message.strip() else "failed") }}

{% for t in g.tests %}{{ md(t) }}{{ ", " if not loop.last }}{% endfor %}


Output (may quote the candidate's own code, messages and printed text):

{{ block(g.output or g.message) }}

{% endfor %}
{% endfor %}
{% if r.notes %}
## Notes

{% for n in r.notes %}
- {{ md(n) }}
{% endfor %}
{% endif %}

## Ignored files

{% if r.ignored_files %}
Only the kata modules named by the take-home were graded. Ignored (names as the candidate sent them):

{% for f in r.ignored_files %}
- {{ md(f) }}
{% endfor %}
{% else %}
None.
{% endif %}

## Sandbox

{% for line in r.sandbox %}
- {{ md(line) }}
{% endfor %}

torchkata {{ r.torchkata_version }}
""")

_HTML = jinja2.Environment(autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True, lstrip_blocks=True).from_string("""\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grade {{ pts(r.score) }} / {{ pts(r.max_score) }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; } td, th { padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }
.bar { background: #eee; width: 10rem; height: .8rem; display: inline-block; vertical-align: middle; }
.bar span { background: #2a7; height: 100%; display: block; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.fail { color: #b22; } .alert { background: #fee; padding: .5rem; font-weight: bold; }
.candidate { border-left: 3px solid #c90; }
</style></head><body>
<h1>Grade: {{ pts(r.score) }} / {{ pts(r.max_score) }} points ({{ pts(r.percent) }}%)</h1>
{% for a in r.alerts %}<p class="alert">{{ a }}</p>{% endfor %}
<p>Scoring: {{ r.scoring }}.</p>
<table><tr><th>kata</th><th></th><th>score</th><th>what is wrong</th><th>seconds</th></tr>
{% for id, k in r.katas.items() %}
<tr><td>{{ id }} · {{ k.title }}</td>
<td><span class="bar"><span style="width: {{ (100 * k.score / k.max_score) | round(1) if k.max_score else 0 }}%"></span></span></td>
<td>{{ pts(k.score) }} / {{ pts(k.max_score) }}</td><td>{{ k.summary }}</td><td>{{ k.seconds }}</td></tr>
{% endfor %}
</table>
{% for id, k in r.katas.items() if k.failures %}<h2 class="fail">{{ id }}: {{ k.summary }}</h2>
{% for g in k.failures %}<h3>{{ g.tests | length }} test(s): {{ g.message.strip().splitlines()[0] if g.message.strip() else "failed" }}</h3>
<p>{{ g.tests | join(", ") }}</p>
<p>Output (may quote the candidate's own code, messages and printed text):</p><pre class="candidate">{{ g.output or g.message }}</pre>
{% endfor %}{% endfor %}
{% if r.notes %}<h2>Notes</h2><ul>{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
<h2>Ignored files</h2>
{% if r.ignored_files %}<ul>{% for f in r.ignored_files %}<li><code>{{ f }}</code></li>{% endfor %}</ul>{% else %}<p>None.</p>{% endif %}
<h2>Sandbox</h2><ul>{% for line in r.sandbox %}<li>{{ line }}</li>{% endfor %}</ul>
<p>torchkata {{ r.torchkata_version }}</p>
</body></html>
""")


def _bar(score: float, max_score: float, width: int = 10) -> str:
    filled = round(width * score / max_score) if max_score else 0
    return "█" * filled + "░" * (width - filled)


def render_markdown(results: dict) -> str:
    return _MARKDOWN.render(r=_defaults(results), bar=_bar, md=md_inline, block=md_block, pts=points)


def render_html(results: dict) -> str:
    return _HTML.render(r=_defaults(results), pts=points)


def _defaults(results: dict) -> dict:
    return {"alerts": [], "notes": [], "ignored_files": [], "sandbox": [], "scoring": "per-property", **results}
