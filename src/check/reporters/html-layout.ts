// The frame of every HTML page of a grading report: one stylesheet inline, no script, no
// outside resource, so the pages open from a folder, a zip or a mail attachment alike.
import { escapeXml as esc } from './xml.js';

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .4em}h3{font-size:1.05em;margin:.2em 0}
a{color:#0550ae}
table{border-collapse:collapse}
th,td{padding:.25em .6em;text-align:left;vertical-align:top;border-bottom:1px solid #d8dee4}
th{background:#f6f8fa;font-weight:600}
.meta{color:#57606a}
.badge{display:inline-block;padding:0 .5em;border-radius:.8em;font-weight:600;font-size:.9em;white-space:nowrap}
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}
.skip{background:#fff8c5;color:#7d4e00}.na{background:#eaeef2;color:#57606a}
.no-start,.error{background:#a40e26;color:#fff}.timeout,.incomplete{background:#bc4c00;color:#fff}
td.cell{text-align:center;font-weight:700;padding:.25em .35em}
th.rot{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:500;font-size:.85em;padding:.4em .2em}
.counts span{margin-right:1em}
section.check{border:1px solid #d8dee4;border-radius:6px;margin:.8em 0;padding:.6em .9em}
section.check.s-fail{border-left:6px solid #cf222e}
section.check.s-pass{border-left:6px solid #2da44e}
section.check.s-skip,section.check.s-na{border-left:6px solid #bf8700}
dl.facts{display:grid;grid-template-columns:6em 1fr;gap:.1em .8em;margin:.4em 0}
dl.facts dt{color:#57606a}dl.facts dd{margin:0;overflow-wrap:anywhere}
.cause{color:#a40e26;font-style:italic}
pre.output{background:#f6f8fa;border:1px solid #d8dee4;padding:.6em;overflow:auto;max-height:24em}
table.timeline{font-size:.9em;margin:.4em 0;width:100%}
table.timeline td.at{white-space:nowrap;text-align:right;color:#57606a;width:5.5em}
table.timeline td.conn{color:#57606a;width:2.5em}
table.timeline td.who{white-space:nowrap;width:9em}
tr.sent td.who{color:#0550ae}tr.received td.who{color:#116329}
tr.closed td,tr.reset td,tr.refused td,tr.timeout td{color:#a40e26}
tr.note td{color:#57606a;font-style:italic}
tr.pause td{color:#7d4e00;background:#fff8c5;font-style:italic}
code.hex{color:#24292f}code.txt{color:#57606a}span.n{color:#8c959f;font-size:.85em}
details>summary{cursor:pointer;color:#0550ae}
p.none{color:#57606a;font-style:italic}
`;

/** A whole page: title, the inline stylesheet, the body. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/** A coloured label; `kind` is one of the CSS classes above. */
export function badge(text: string, kind: string): string {
  return `<span class="badge ${esc(kind)}">${esc(text)}</span>`;
}
