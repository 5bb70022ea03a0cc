"""One self-contained HTML page (no external file, font or script): the SVG ladder of
each call, and a panel that shows a message's full text and per-line explanation when
the message is clicked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.sax.saxutils import escape

from ._model import Flow
from ._render_common import explanation, flow_title
from ._render_svg import flow_svg

__all__ = ["render_html"]

_STYLE = """
body { font-family: sans-serif; margin: 0; display: flex; height: 100vh; }
#ladders { flex: 3; overflow: auto; padding: 8px; }
#detail { flex: 2; overflow: auto; padding: 8px; border-left: 1px solid #ccc; background: #fafafa; }
#detail pre { white-space: pre-wrap; font-size: 12px; }
#detail table { border-collapse: collapse; font-size: 12px; }
#detail td { border-top: 1px solid #ddd; padding: 2px 4px; vertical-align: top; }
#detail td.line { font-family: monospace; }
.msg:hover rect { fill: #ffd; }
.msg.selected rect { fill: #fe9; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('messages').textContent);
function show(index) {
  const m = data[index];
  const panel = document.getElementById('detail');
  panel.replaceChildren();
  const title = document.createElement('h3');
  title.textContent = '#' + index + ' ' + m.summary;
  panel.appendChild(title);
  const meta = document.createElement('p');
  meta.textContent = m.meta;
  panel.appendChild(meta);
  const pre = document.createElement('pre');
  pre.textContent = m.text;
  panel.appendChild(pre);
  const table = document.createElement('table');
  for (const [line, text] of m.explanation) {
    const row = table.insertRow();
    const a = row.insertCell(); a.className = 'line'; a.textContent = line;
    const b = row.insertCell(); b.textContent = text;
  }
  panel.appendChild(table);
  document.querySelectorAll('.msg.selected').forEach(e => e.classList.remove('selected'));
  document.querySelectorAll('.msg[data-index="' + index + '"]').forEach(e => e.classList.add('selected'));
}
document.querySelectorAll('.msg').forEach(g => g.addEventListener('click', () => show(g.dataset.index)));
"""


def _messages(flows: Sequence[Flow]) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = {}
    for flow in flows:
        for m in flow.messages:
            notes = "; ".join(m.record.notes)
            meta = f"{flow.name_of(m.source)} -> {flow.name_of(m.destination)} over {m.transport}, {m.record.origin}"
            data[str(m.index)] = {
                "summary": flow.summaries.get(m.index, ""),
                "meta": meta + (f" ({notes})" if notes else ""),
                "text": m.record.raw.decode("utf-8", "replace"),
                "explanation": explanation(m),
            }
    return data


def render_html(flows: Sequence[Flow]) -> str:
    sections = [
        f"<section><h2>{escape(flow_title(flow))}</h2>\n{flow_svg(flow, standalone=False)}</section>"
        for flow in flows
    ]
    payload = json.dumps(_messages(flows), ensure_ascii=True).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>sipline ladder</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        '<div id="ladders">' + "\n".join(sections) + "</div>\n"
        '<div id="detail"><p>Click a message to see its full text and what each line does.</p></div>\n'
        f'<script type="application/json" id="messages">{payload}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )
