"""The report's style sheet (inlined into the page)."""

from __future__ import annotations

CSS = """
:root { --ink: #1d232b; --muted: #5b6470; --line: #d6dbe1; --ours: #e8f0fb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", Helvetica, Arial, sans-serif; color: var(--ink);
       max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { border-bottom: 2px solid var(--ink); padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 12.5px; }
caption { text-align: left; color: var(--muted); font-size: 12px; padding-bottom: 0.2rem; }
th, td { border: 1px solid var(--line); padding: 0.2rem 0.45rem; vertical-align: top;
         text-align: left; }
thead th { background: #f2f4f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.missing { color: var(--muted); }
th.ours, tr:has(th.ours) td { background: var(--ours); font-weight: 600; }
.cols { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
figure { margin: 0.8rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption, .note { color: var(--muted); font-size: 12px; }
img.skeleton { width: 150px; height: auto; }
.examples { max-width: 22rem; font-size: 11.5px; }
.rule { font-size: 11.5px; color: var(--muted); }
.banner { padding: 0.8rem 1rem; border-radius: 4px; margin: 1rem 0; font-weight: 600; }
.banner.danger { background: #fde2e0; border: 3px solid #b3261e; color: #7a1610;
                 font-size: 1.1rem; }
.banner.warning { background: #fff4d6; border: 2px solid #a86d00; color: #5c3b00; }
.banner.ok { background: #e6f4ea; border: 1px solid #2e7d32; color: #1b4d1f; font-weight: 400; }
.bad { color: #b3261e; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 12px; }
ul { margin: 0; padding-left: 1rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav, details > summary::marker { display: none; }
  details { display: block; }
  section { break-before: page; }
  section#run { break-before: auto; }
  table, figure, tr { break-inside: avoid; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
"""
