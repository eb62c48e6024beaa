// Draws every <figure class="chart" data-chart="ID"> from the JSON in <script id="ID">:
// {"x": [...], "series": [{"label": "...", "values": [...]}], "points": bool}. No network.
(function () {
  "use strict";
  var palette = ["#0b5cad", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#116329",
    "#953800", "#0550ae", "#6e7781"];
  function number(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function draw(figure) {
    var source = document.getElementById(figure.getAttribute("data-chart"));
    if (!source || typeof uPlot === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    var x = spec.x.map(number);
    var data = [x];
    var series = [{ label: figure.getAttribute("data-x") || "x" }];
    spec.series.forEach(function (s, i) {
      data.push(s.values.map(number));
      series.push({ label: s.label, stroke: palette[i % palette.length], width: 2,
        spanGaps: true, points: { show: !!spec.points || x.length < 30 } });
    });
    var width = Math.max(Math.min(figure.parentNode.clientWidth || 800, 900), 320);
    new uPlot({ width: width, height: 240, series: series,
      scales: { x: { time: false } }, legend: { live: true } }, data, figure);
  }
  function start() {
    var figures = document.querySelectorAll("figure.chart[data-chart]");
    for (var i = 0; i < figures.length; i++) { draw(figures[i]); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
