// dcc.Graph loads Plotly the first time a chart is shown, from window._dashPlotlyJSURL, which
// Dash's renderer points at the full bundle (4.8 MB, 1.4 MB compressed). Our charts draw only
// scatter, bar and histogram traces: point it at plotly.js's cartesian partial bundle of the
// same version (1.5 MB, 0.45 MB compressed) instead. The URL carries the version as its
// fingerprint, so the server compresses it once and the browser caches it for a year. Pages
// without a chart still load no Plotly at all. See app/page_weight.py (PLOTLY_BUNDLE).
(function () {
  var url = new URL("vendor/plotly-cartesian-4.1.1.min.js?m=4.1.1", document.currentScript.src);
  Object.defineProperty(window, "_dashPlotlyJSURL", {
    configurable: true,
    get: function () {
      return url.href;
    },
    set: function () {}, // the renderer's own assignment is ignored
  });
})();
