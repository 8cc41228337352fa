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

  // A page that opens with charts (the overview, strategies, odds, opportunities) starts
  // Plotly's download and parse as soon as Dash's renderer has sent its first requests, while
  // the page waits for its layout, instead of after the layout is in (about 0.3 s of parse on
  // this kind of machine, then). Until the script has run, window.Plotly is a thenable: dcc.Graph's
  // loader takes `Promise.resolve(window.Plotly || <load the script>)`, so a chart mounted
  // first waits for this script instead of loading it twice; the bundle's last line sets
  // window.Plotly to the library. Another page, or a path not listed here, loads Plotly as
  // before (only when a chart mounts).
  var CHART_PAGES = /^\/(strategies|odds|opportunities)?\/?$/;
  if (!CHART_PAGES.test(window.location.pathname)) {
    return;
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (window.Plotly) {
      return;
    }
    var loaded = new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = url.href;
      script.async = true;
      script.onload = function () {
        resolve();
      };
      script.onerror = function (error) {
        window.Plotly = undefined; // a chart mounted later tries the usual way
        reject(error);
      };
      document.head.appendChild(script);
    });
    window.Plotly = {
      then: function (done, failed) {
        return loaded.then(done, failed);
      },
    };
  });
})();
