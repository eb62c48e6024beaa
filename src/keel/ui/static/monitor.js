// The drift heatmap: a click on a cell shows the column's distribution in the reference and
// in that window, side by side, from the JSON in <script id="monitor-data">. No network.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function shares(counts) {
    var total = counts.reduce(function (a, b) { return a + b; }, 0) || 1;
    return counts.map(function (c) { return c / total; });
  }
  function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(3); }
  function bars(labels, ref, cur) {
    var width = Math.max(Math.min(labels.length * 56, 860), 320), height = 190, pad = 28;
    var step = (width - 2 * pad) / Math.max(labels.length, 1), bar = step * 0.4;
    var top = Math.max.apply(null, ref.concat(cur).concat([1e-9]));
    var svg = el("svg", { width: width, height: height + 60, role: "img" });
    labels.forEach(function (label, i) {
      var x = pad + i * step;
      [[0, ref[i], "#8a99a8", "reference"], [bar, cur[i], "#1f5f99", "window"]].forEach(function (b) {
        var h = (height - 20) * (b[1] || 0) / top;
        var rect = el("rect", { x: (x + b[0]).toFixed(1), y: (height - h).toFixed(1),
          width: bar.toFixed(1), height: h.toFixed(1), fill: b[2], "class": "bar-" + b[3],
          "data-share": b[1] });
        rect.appendChild(el("title", {}, label + ", " + b[3] + ": " + (100 * (b[1] || 0)).toFixed(1) + "%"));
        svg.appendChild(rect);
      });
      var tx = x + bar;
      svg.appendChild(el("text", { x: tx.toFixed(1), y: height + 12, "font-size": 11,
        transform: "rotate(35 " + tx.toFixed(1) + " " + (height + 12) + ")" }, label.slice(0, 16)));
    });
    return svg;
  }
  function start() {
    var table = document.getElementById("heatmap"), source = document.getElementById("monitor-data");
    if (!table || !source) { return; }
    var data = JSON.parse(source.textContent), hm = data.heatmap, dist = data.distributions;
    var panel = document.getElementById("distribution"), selected = null;
    table.addEventListener("click", function (event) {
      var cell = event.target.closest("tbody td");
      if (!cell) { return; }
      var c = cell.parentNode.sectionRowIndex, w = cell.cellIndex - 1;  // after the name
      var column = hm.columns[c], v = hm.cells[c][w], counts = dist.windows[w];
      var found = v && { method: hm.methods[c], score: v[0], low: v[1], high: v[2],
        threshold: v[3], drifted: v[4] };
      if (selected) { selected.classList.remove("selected"); }
      selected = cell; cell.classList.add("selected");
      document.getElementById("distribution-title").textContent =
        column + ", window from " + hm.starts[w].replace("T", " ").slice(0, 16) + " UTC";
      document.getElementById("distribution-facts").textContent = found
        ? found.method + " " + fmt(found.score) + " [" + fmt(found.low) + ", " + fmt(found.high) +
          "], threshold " + fmt(found.threshold) + (found.drifted ? ": drifted" : ": not drifted") +
          "; " + hm.rows[w] + " rows"
        : "no rows in this window (" + hm.rows[w] + ")";
      var chart = document.getElementById("distribution-chart");
      chart.textContent = "";
      var cur = counts && counts[c] ? shares(counts[c]) : dist.labels[column].map(function () { return 0; });
      chart.appendChild(bars(dist.labels[column], shares(dist.reference[column]), cur));
      panel.hidden = false;
      panel.setAttribute("data-column", column);
      panel.setAttribute("data-window", String(w));
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
