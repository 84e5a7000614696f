"""The HTML of `ftrun report`: plain markup, one style sheet and a few lines of script, all inline.

The table is written out in full (it reads without script); the script only sorts a column when its
header is clicked and hides rows that do not match the filter box.
"""

from __future__ import annotations

from html import escape

from results.provenance import FIELDS, short

STATE_CLASS = {"DONE": "ok", "INTERP": "interp", "NS": "ns", "FAIL": "fail", "OOM": "fail", "TLE": "fail"}
COLUMNS = (("part", "text"), ("model", "text"), ("system", "text"), ("device", "text"), ("scale", "text"),
           ("seqlen", "num"), ("state", "text"), ("median ms", "num"), ("p10-p90 ms", "num"), ("reason", "text"),
           ("compile s", "num"), ("peak MiB", "num"), ("paper ms", "num"), ("provenance", "text"))

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1360px;padding:0 16px;color:#1b1b1b}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta,.muted{color:#666;font-size:12px}
.warn{background:#fff4e5;border-left:4px solid #e67e22;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{padding:3px 6px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#f4f6f8;position:sticky;top:0;cursor:pointer;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
.ok{color:#1e8449}.fail{color:#c0392b}.ns{color:#b7950b}.interp{color:#2e86c1}.slower,.broken{color:#c0392b;font-weight:600}
.faster,.fixed{color:#1e8449}figure{margin:12px 0}figure img{width:min(100%,980px);border:1px solid #eee}
figure img.small{width:min(100%,520px)}
input#filter{margin:6px 0;padding:4px 8px;width:320px}td.reason{min-width:240px;max-width:420px;overflow-wrap:anywhere}
td.prov{font-size:11px;color:#555;min-width:200px}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
      table.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var numeric = th.dataset.type === 'num';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        if (numeric) {
          x = x === '' ? Infinity : parseFloat(x); y = y === '' ? Infinity : parseFloat(y);
          return dir === 'asc' ? x - y : y - x;
        }
        return dir === 'asc' ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
var filter = document.getElementById('filter');
if (filter) filter.addEventListener('input', function () {
  var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
  document.querySelectorAll('#cases tbody tr').forEach(function (tr) {
    var text = tr.textContent.toLowerCase();
    tr.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
  });
});
"""


def page(data) -> str:
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(data.title)}</title>",
             f"<meta name=viewport content='width=device-width'><style>{STYLE}</style></head><body>",
             f"<h1>{escape(data.title)}</h1><div class=meta>{escape(data.version)} · runs folder "
             f"{escape(data.runs)} · written {escape(data.generated)}</div>",
             _status(data.status), _comparison(data), _cases(data), _figures(data), _provenance(data),
             f"<script>{SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def _status(report) -> str:
    from ftrun.status import ORDER

    counts = report.counts()
    states = [s for s in ORDER if any(c.get(s) for c in counts.values())]
    head = "".join(f"<th>{s}</th>" for s in ["experiment", "cluster"]) + "".join(
        f"<th class=n>{s}</th>" for s in [*states, "total"])
    body = "".join(
        f"<tr><td>{escape(e)}</td><td>{escape(c)}</td>" + "".join(f"<td class=n>{n.get(s, '')}</td>" for s in states)
        + f"<td class=n>{sum(n.values())}</td></tr>" for (e, c), n in sorted(counts.items()))
    warnings = [f"drift: {d.label} ({d.experiment} on {d.cluster}) took {d.first_ms:.4g} ms first and "
                f"{d.last_ms:.4g} ms last in its chunk ({d.change:+.0%}): the times of that chunk are suspect"
                for d in report.drifts]
    warnings += [f"skipped invalid file {name}: {why}" for name, why in report.bad_files]
    warnings += report.notes
    html = "<h2>Campaigns</h2>" + (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if counts
                                   else "<p class=muted>no campaigns in this runs folder (imported results only)</p>")
    return html + "".join(f"<div class=warn>{escape(w)}</div>" for w in warnings)


def _figures(data) -> str:
    if not data.figures:
        return ""
    items = "".join(f"<figure><img alt='{escape(f.name)}' src='data:image/png;base64,{f.png_base64}'>"
                    f"<figcaption class=muted>{escape(f.name)}</figcaption></figure>" for f in data.figures)
    return f"<h2>Figures</h2>{items}"


def _cases(data) -> str:
    from ftrun.report import paper_for

    head = "".join(f"<th data-type={kind}{' class=n' if kind == 'num' else ''}>{escape(name)}</th>"
                   for name, kind in COLUMNS)
    rows = []
    for r in data.rows:
        paper = paper_for(r, data.paper)
        spread = f"{r.p10_ms:.4g}-{r.p90_ms:.4g}" if r.done and r.p10_ms is not None and r.p90_ms is not None else ""
        cells = [_text(r.part), _text(r.model), _text(r.system), _text(r.device), _text(r.scale),
                 _num(r.seqlen, str(r.seqlen)),
                 f"<td data-v='{escape(r.state)}' class={STATE_CLASS.get(r.state, 'fail')}>{escape(r.state)}</td>",
                 _num(r.median_ms if r.done else None), _num(r.p90_ms - r.p10_ms if spread else None, spread),
                 f"<td class=reason data-v='{escape(r.reason())}'>{escape(r.reason())}</td>",
                 _num(r.compile_s, f"{r.compile_s:.3g}" if r.compile_s is not None else ""),
                 _num(r.peak_mib, f"{r.peak_mib:.0f}" if r.peak_mib is not None else ""),
                 _num(min(paper.values()) if paper else None,
                      " · ".join(f"{d.upper()} {ms:.4g}" for d, ms in sorted(paper.items()))),
                 _provenance_cell(r)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<h2>Every case ({len(data.rows)})</h2><p class=muted>Click a column to sort; type to filter. "
            "Times are medians of the kept samples, each checked against float64 first; INTERP: ran in Triton's "
            "interpreter (no GPU), checked, not timed; paper ms: the FlashTensor paper's number for the same "
            "case (its own compiler beside ours).</p><input id=filter placeholder='filter, e.g. h2o fail'>"
            f"<table id=cases class=sortable><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _provenance_cell(row) -> str:
    text = short(row.provenance)
    if not text:
        return _text(row.source if row.source != "ftrun" else "")
    full = "; ".join(f"{k}={v}" for k, v in row.provenance.items() if v)
    return f"<td class=prov data-v='{escape(text)}' title='{escape(full)}'>{escape(text)}</td>"


def _provenance(data) -> str:
    from ftrun.report import provenance_groups

    groups = provenance_groups(data.rows)
    if not groups:
        return ""
    head = "".join(f"<th>{escape(f)}</th>" for f in ("results", *FIELDS))
    body = "".join(f"<tr><td class=n>{n}</td>" + "".join(f"<td>{escape(str(facts.get(f) or ''))}</td>" for f in FIELDS)
                   + "</tr>" for _, n, facts in groups)
    return f"<h2>Provenance</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _comparison(data) -> str:
    c = data.comparison
    if c is None:
        return ""
    counts = ", ".join(f"{n} {v}" for v, n in c.counts().items()) or "no cases"
    columns = (("case", "text"), ("A ms", "num"), ("B ms", "num"), ("B/A", "num"), ("95% interval", "text"),
               ("verdict", "text"), ("differs", "text"), ("note", "text"))
    head = "".join(f"<th data-type={k}{' class=n' if k == 'num' else ''}>{n}</th>" for n, k in columns)
    rows = []
    for p in c.pairs:
        a = p.a.median_ms if p.a and p.a.done else None
        b = p.b.median_ms if p.b and p.b.done else None
        ci = f"{p.ci[0]:.3g}-{p.ci[1]:.3g}" if p.ci else ""
        rows.append(f"<tr>{_text(p.case)}{_num(a, _state_or(a, p.a))}{_num(b, _state_or(b, p.b))}"
                    f"{_num(p.ratio, f'{p.ratio:.3g}' if p.ratio else '')}"
                    f"{_text(ci)}<td class='{escape(p.verdict)}' data-v='{escape(p.verdict)}'>{escape(p.verdict)}</td>"
                    f"{_text(' '.join(p.differs))}{_text(p.note)}</tr>")
    differs = "".join(f"<div class=warn>differs: {escape(k)}: A {escape(', '.join(va) or '-')} | B "
                      f"{escape(', '.join(vb) or '-')}</div>" for k, (va, vb) in c.provenance.items())
    figure = (f"<figure><img class=small alt=compare src='data:image/png;base64,{data.compare_png}'></figure>"
              if data.compare_png else "")
    return (f"<h2>Comparison</h2><p>A: {escape(c.a['said'])} ({c.a['cases']} cases) · B: {escape(c.b['said'])} "
            f"({c.b['cases']} cases) · threshold ±{c.threshold:.0%} · <b>{escape(counts)}</b></p>{differs}{figure}"
            f"<table class=sortable><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _state_or(value, row) -> str:
    return f"{value:.4g}" if value is not None else (row.state if row else "")


def _text(value) -> str:
    text = "" if value is None else str(value)
    return f"<td data-v='{escape(text)}'>{escape(text)}</td>"


def _num(value, shown: str | None = None) -> str:
    v = "" if value is None else repr(float(value))
    text = shown if shown is not None else ("" if value is None else f"{value:.4g}")
    return f"<td class=n data-v='{v}'>{escape(text)}</td>"
