#!/usr/bin/env python3
"""Draw the design diagrams of docs/design.md as SVG: python3 docs/img/diagrams.py"""
import os

W = 900
os.chdir(os.path.dirname(os.path.abspath(__file__)))


def box(x, y, w, h, txt, fill="#fff", stroke="#333", fs=12):
    t = f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="{stroke}"/>'
    lines = txt.split("\n")
    for k, line in enumerate(lines):
        yy = y + h / 2 + (k - (len(lines) - 1) / 2) * (fs + 2) + fs / 3
        t += (f'<text x="{x + w / 2}" y="{yy}" font-size="{fs}" text-anchor="middle" '
              f'font-family="monospace">{line}</text>')
    return t


def arrow(x1, y1, x2, y2, color="#333", dash=False, label=None):
    d = ' stroke-dasharray="5,4"' if dash else ''
    t = (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="1.6" '
         f'marker-end="url(#a{color[1:]})"{d}/>')
    if label:
        t += (f'<text x="{(x1 + x2) / 2}" y="{y1 - 5}" font-size="10" text-anchor="middle" '
              f'font-family="monospace" fill="#555">{label}</text>')
    return t


def svg(h, colors, title, subtitle=None):
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}">', '<defs>']
    for c in colors:
        s.append(f'<marker id="a{c[1:]}" markerWidth="8" markerHeight="8" refX="7" refY="4" '
                 f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="{c}"/></marker>')
    s += ['</defs>', '<rect width="100%" height="100%" fill="#fafafa"/>',
          f'<text x="12" y="22" font-size="15" font-family="sans-serif" font-weight="bold">{title}</text>']
    if subtitle:
        s.append(f'<text x="12" y="42" font-size="12" font-family="sans-serif">{subtitle}</text>')
    return s


def skiplist():
    nodes = [("head", 0, 0, 4), ("A", 0x1000, 0x1400, 1), ("B", 0x2000, 0x2800, 3),
             ("C", 0x3000, 0x3100, 1), ("D", 0x5000, 0x5800, 2), ("E", 0x6000, 0x7000, 1)]
    out = svg(250, ["#333", "#c33"],
              "The skip list: every link carries its target's start (key);",
              "links above level 0 also carry the largest free gap of their span (gap).")
    xs = [20 + i * 150 for i in range(len(nodes))]
    base, lh = 215, 38
    for i, (n, s, e, h) in enumerate(nodes):
        for lv in range(h):
            y = base - lv * lh - lh
            out.append(box(xs[i], y, 50, lh - 6, f"L{lv}", fill="#eef4ff" if lv else "#fff"))
        lab = n if n == "head" else f"{n} [{s:#x},{e:#x})"
        out.append(f'<text x="{xs[i] + 25}" y="{base + 16}" font-size="11" text-anchor="middle" '
                   f'font-family="monospace">{lab}</text>')
    for lv in range(4):
        present = [i for i, nd in enumerate(nodes) if nd[3] > lv]
        y = base - lv * lh - lh + (lh - 6) / 2
        for a, b in zip(present, present[1:]):
            lab = f"key {nodes[b][1]:#x}"
            if lv >= 1:
                g = max(nodes[j + 1][1] - nodes[j][2] for j in range(a, b))
                lab += f" gap {g:#x}"
            out.append(arrow(xs[a] + 50, y, xs[b] - 2, y, label=lab))
        out.append(arrow(xs[present[-1]] + 50, y, xs[present[-1]] + 80, y, color="#c33", dash=True))
    out.append('</svg>')
    with open('skiplist.svg', 'w') as f:
        f.write("\n".join(out))


def split():
    steps = [("0. before", ["P", "X [a,c) f", "Q"], []),
             ("1. link R after X", ["P", "X [a,c) f", "R [b',c) f", "Q"], [2]),
             ("2. link M after X", ["P", "X [a,c) f", "M [b,b') g", "R [b',c) f", "Q"], [2]),
             ("3. link L after X", ["P", "X [a,c) f", "L [a,b) f", "M [b,b') g", "R [b',c) f", "Q"], [2]),
             ("4. unlink X, retire it", ["P", "L [a,b) f", "M [b,b') g", "R [b',c) f", "Q"], [1, 2, 3])]
    out = svg(430, ["#333", "#2a7"],
              "Publishing a three-way split of X = [a, c): new nodes last first, then old nodes first first",
              "A reader answers with the last node whose start is &lt;= its address: in every state each "
              "address gets its old or its new area.")
    y = 70
    for title, row, new in steps:
        out.append(f'<text x="12" y="{y + 20}" font-size="12" font-family="sans-serif">{title}</text>')
        x, prev = 200, None
        for k, n in enumerate(row):
            w = 60 if n in ("P", "Q") else 100
            fill = "#e8f8ee" if k in new else ("#fdecea" if n.startswith("X") else "#fff")
            out.append(box(x, y, w, 30, n, fill=fill, fs=11))
            if prev is not None:
                out.append(arrow(prev, y + 15, x - 2, y + 15))
            prev, x = x + w, x + w + 22
        y += 70
    out.append('</svg>')
    with open('split.svg', 'w') as f:
        f.write("\n".join(out))


def reclaim():
    out = svg(200, ["#333"], "Reclamation: a removed node is freed only after a grace period")
    items = [("writer\n(mutex held)", 20), ("unlink from\nskip list", 170), ("set limbo\n(64 nodes)", 320),
             ("call_rcu\nbatch", 470), ("grace period\n(urcu-bp)", 620), ("slab free\n(call_rcu thread)", 770)]
    for t, x in items:
        out.append(box(x, 70, 115, 50, t, fill="#fff", fs=11))
    for (_, a), (_, b) in zip(items, items[1:]):
        out.append(arrow(a + 115, 95, b - 2, 95))
    out.append('<text x="20" y="160" font-size="12" font-family="sans-serif">mset_destroy(): '
               'synchronize_rcu for the limbo, then waits for the set\'s batches in flight to reach zero.</text>')
    out.append('</svg>')
    with open('reclaim.svg', 'w') as f:
        f.write("\n".join(out))


skiplist()
split()
reclaim()
