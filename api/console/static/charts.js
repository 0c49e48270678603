// Draws every [data-chart] element with uPlot from the JSON block it names (series names and columns; the first
// column is time in seconds, or bucket numbers when `labels` names them). Redrawn after a live update.
"use strict";
(function () {
  const colours = ["#0b5cad", "#6aa5e8", "#a4161a", "#e58a8d", "#1b6e2e", "#8a5200"];

  function draw(holder) {
    const source = document.getElementById(holder.dataset.chart);
    if (!source || !window.uPlot) return;
    const spec = JSON.parse(source.textContent);
    holder.textContent = "";
    const bars = spec.bars ? window.uPlot.paths.bars({ size: [0.6, 40] }) : undefined;
    const series = [{ label: spec.labels ? "" : "time", value: spec.labels ? (u, v) => spec.labels[v] ?? "" : undefined }]
      .concat(spec.series.map((name, i) => ({ label: name, stroke: colours[i % colours.length],
        fill: spec.bars ? colours[i % colours.length] + "99" : undefined, paths: bars, width: 2 })));
    const axes = [{ values: spec.labels ? (u, ticks) => ticks.map((t) => spec.labels[t] ?? "") : undefined },
      { label: holder.dataset.unit || "", size: 70 }];
    const width = Math.max(280, holder.clientWidth);
    new window.uPlot({ width, height: 240, series, axes, scales: { x: { time: !spec.labels } } },
      spec.columns, holder);
    holder.dataset.drawn = "true";
  }

  function drawAll() { document.querySelectorAll("[data-chart]").forEach(draw); }
  drawAll();
  document.addEventListener("console:updated", drawAll);
})();
