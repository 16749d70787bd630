/* An anomaly alert's chart: Chart.js (vendor/chartjs) draws what the page's JSON data element
   (#anomaly-chart-data) holds: the title in the reader's language, the detector's labels and
   values. The data is parsed, never executed; labels are drawn as text. */
(function () {
  "use strict";
  var element = document.getElementById("anomaly-chart-data");
  var canvas = document.getElementById("anomaly-chart");
  if (!element || !canvas || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(element.textContent || "{}");
  var locale = data.locale === "en" ? "en-GB" : "fr-FR";
  var datasets = [{ label: data.title, data: data.values || [], backgroundColor: "#3b6ea8", borderColor: "#3b6ea8",
                    borderWidth: 1 }];
  var band = data.band;
  if (band && data.kind === "line") {
    /* the baseline band the values were compared with: two dashed lines, no points */
    [[band.low_label, band.low], [band.high_label, band.high]].forEach(function (line) {
      datasets.push({ label: line[0], data: line[1] || [], borderColor: "#b0781a", borderDash: [6, 4],
                      borderWidth: 1, pointRadius: 0, fill: false });
    });
  }
  new window.Chart(canvas, {
    type: data.kind === "line" ? "line" : "bar",
    data: { labels: data.labels || [], datasets: datasets },
    options: {
      locale: locale,
      animation: false,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true } }
    }
  });
})();
