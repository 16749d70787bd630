/* The dashboard's charts: Chart.js (vendor/chartjs) draws each chart the page's JSON data element
   (#dashboard-data) describes. Labels, titles and legends come from the server in the reader's
   language; numbers are formatted for the page's locale. The data is parsed, never executed. */
(function () {
  "use strict";
  var element = document.getElementById("dashboard-data");
  if (!element || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(element.textContent || "{}");
  var locale = data.locale === "en" ? "en-GB" : "fr-FR";

  function dataset(spec) {
    return {
      label: spec.label,
      data: spec.data,
      backgroundColor: spec.color,
      borderColor: spec.color,
      borderWidth: 1
    };
  }

  function draw(spec) {
    var canvas = document.getElementById("chart-" + spec.id);
    if (!canvas) {
      return;
    }
    var valueAxis = {
      beginAtZero: true,
      stacked: spec.stacked,
      title: { display: Boolean(spec.axis), text: spec.axis },
      ticks: { precision: 0 }
    };
    if (spec.max !== null && spec.max !== undefined) {
      valueAxis.max = spec.max;
    }
    var categoryAxis = { stacked: spec.stacked, ticks: { autoSkip: true } };
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: spec.labels, datasets: spec.datasets.map(dataset) },
      options: {
        locale: locale,
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: spec.datasets.length > 1, position: "bottom" },
          title: { display: false, text: spec.title }
        },
        scales: spec.horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis }
      }
    });
  }

  (data.charts || []).forEach(draw);
})();
