// The console dashboard's charts: each element with a data-figure attribute holds a Plotly
// figure built by the server (web/charts.py); this draws it with the vendored plotly.js.
// A file of its own because the console's CSP allows no inline script. Without script the
// table under each chart is the same figures.
(function () {
  "use strict";
  var config = {displayModeBar: false, responsive: true, scrollZoom: false};

  function draw(element) {
    var figure = JSON.parse(element.getAttribute("data-figure"));
    window.Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
      // Tests and screenshots wait for this; a person sees the chart.
      element.setAttribute("data-drawn", "true");
    });
  }

  if (window.Plotly) {
    document.querySelectorAll("[data-figure]").forEach(draw);
  }
})();
