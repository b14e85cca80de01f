"""Grading reports for a person: Markdown and HTML (jinja2), from results.json's data."""
from __future__ import annotations

import jinja2

_ENV = jinja2.Environment(autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                          trim_blocks=True, lstrip_blocks=True)

_MARKDOWN = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True).from_string("""\
# Grade: {{ r.score }} / {{ r.max_score }} points ({{ r.percent }}%)

| kata | score | passed | failed | seconds |
| --- | --- | --- | --- | --- |
{% for id, k in r.katas.items() %}
| {{ id }} · {{ k.title }} | {{ bar(k.score, k.max_score) }} {{ k.score }} / {{ k.max_score }} | {{ k.passed }} | {{ k.failed }} | {{ k.seconds }} |
{% endfor %}

{% set failed = r.tests | rejectattr("status", "equalto", "pass") | list %}
{% if failed %}
## Failed properties

{% for t in failed %}
### {{ t.kata }} · {{ t.name }}

{{ t.message }}

```
{{ t.output }}
```

{% endfor %}
{% endif %}
{% if r.notes %}
## Notes

{% for n in r.notes %}
- {{ n }}
{% endfor %}
{% endif %}

## Ignored files

{% if r.ignored_files %}
Only the kata modules named by the manifest were graded. Ignored:

{% for f in r.ignored_files %}
- `{{ f }}`
{% endfor %}
{% else %}
None.
{% endif %}

## Sandbox

{% for line in r.sandbox %}
- {{ line }}
{% endfor %}

torchkata {{ r.torchkata_version }}
""")

_HTML = _ENV.from_string("""\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grade {{ r.score }} / {{ r.max_score }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; } td, th { padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }
.bar { background: #eee; width: 10rem; height: .8rem; display: inline-block; vertical-align: middle; }
.bar span { background: #2a7; height: 100%; display: block; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.fail { color: #b22; }
</style></head><body>
<h1>Grade: {{ r.score }} / {{ r.max_score }} points ({{ r.percent }}%)</h1>
<table><tr><th>kata</th><th>score</th><th></th><th>passed</th><th>failed</th><th>seconds</th></tr>
{% for id, k in r.katas.items() %}
<tr><td>{{ id }} · {{ k.title }}</td>
<td><span class="bar"><span style="width: {{ (100 * k.score / k.max_score) | round(1) if k.max_score else 0 }}%"></span></span></td>
<td>{{ k.score }} / {{ k.max_score }}</td><td>{{ k.passed }}</td><td>{{ k.failed }}</td><td>{{ k.seconds }}</td></tr>
{% endfor %}
</table>
{% set failed = r.tests | rejectattr("status", "equalto", "pass") | list %}
{% if failed %}<h2>Failed properties</h2>
{% for t in failed %}<h3 class="fail">{{ t.kata }} · {{ t.name }}</h3><p>{{ t.message }}</p><pre>{{ t.output }}</pre>
{% endfor %}{% endif %}
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
    return _MARKDOWN.render(r=results, bar=_bar)


def render_html(results: dict) -> str:
    return _HTML.render(r=results)
