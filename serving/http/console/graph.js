// An entity's neighbourhood drawn as SVG by hand: the entity in the middle, the entities it is
// joined to on an inner ring, the passages that name it on an outer ring.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const short = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

/** Place the nodes: the first (the entity) at the centre, other entities on an inner ring, passages on an
 * outer ring turned by 0.8 rad, so that an entity-passage edge does not run through the centre. */
function layout(nodes, width, height) {
  const cx = width / 2;
  const cy = height / 2;
  const r = Math.min(width, height) / 2 - 30;
  const at = {[nodes[0].id]: {x: cx, y: cy}};
  const rings = [nodes.slice(1).filter((n) => n.kind === "entity"), nodes.slice(1).filter((n) => n.kind === "passage")];
  rings.forEach((ring, i) => {
    const radius = r * (i === 0 ? 0.55 : 0.92);
    const turn = i === 0 ? 0 : 0.8;
    ring.forEach((node, j) => {
      const angle = (2 * Math.PI * j) / Math.max(ring.length, 1) - Math.PI / 2 + turn;
      at[node.id] = {x: cx + radius * Math.cos(angle) * 1.45, y: cy + radius * Math.sin(angle)};
    });
  });
  return at;
}

/** The SVG of a ``GET /v1/memory/entities/{name}`` answer; ``on.entity(name)`` and ``on.passage(id)`` handle clicks. */
function drawGraph(hood, on, width = 860, height = 420) {
  const root = svg("svg", {class: "graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `neighbourhood of ${hood.name}`});
  const at = layout(hood.nodes, width, height);
  for (const edge of hood.edges) {
    const a = at[edge.source];
    const b = at[edge.target];
    root.append(svg("line", {x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: `edge ${edge.kind}`}));
    const label = edge.kind === "relation" ? edge.relations.join(", ")
      : edge.kind === "synonym" ? `synonym ${edge.synonym.toFixed(2)}` : "";
    if (label) root.append(svg("text", {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, class: `edge-label ${edge.kind}`}, short(label, 28)));
  }
  hood.nodes.forEach((node, i) => {
    const {x, y} = at[node.id];
    const group = svg("g", {class: `node ${node.kind}${i === 0 ? " center" : ""}`, transform: `translate(${x},${y})`});
    group.append(svg("title", {}, node.label));
    if (node.kind === "entity") {
      group.append(svg("circle", {r: i === 0 ? 11 : 8}));
      group.append(svg("text", {y: -14}, short(node.label, 24)));
      group.addEventListener("click", () => on.entity(node.label));
    } else {
      group.append(svg("rect", {x: -6, y: -6, width: 12, height: 12}));
      group.append(svg("text", {y: 20}, short(node.label, 22)));
      group.addEventListener("click", () => on.passage(node.id.slice(2)));
    }
    root.append(group);
  });
  return root;
}
