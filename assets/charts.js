/* Charts that keep the user's view across refreshes.
 *
 * Dash 4's dcc.Graph copies every zoom or pan into its `figure` prop (xaxis.range, autorange
 * false). Plotly.react then takes those ranges as the figure's own and forgets the view it kept
 * under `uirevision`, so the next figure from the server (autoranged) resets the zoom. Every
 * chart's server callback therefore writes to a store, and this function hands the graph that
 * figure with the ranges the user chose, as long as the chart's uirevision is unchanged (a new
 * window or selection starts afresh). Hidden traces are Plotly's own business (uirevision and
 * trace uids): dcc.Graph does not copy them. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  dugout: {
    keepView: function (next, current) {
      if (!next) {
        return window.dash_clientside.no_update;
      }
      const nextLayout = next.layout || {};
      const shown = (current && current.layout) || {};
      if (nextLayout.uirevision === undefined || nextLayout.uirevision !== shown.uirevision) {
        return next;
      }
      const layout = Object.assign({}, nextLayout);
      for (const key of Object.keys(shown)) {
        const axis = shown[key];
        const zoomed = axis && axis.autorange === false && Array.isArray(axis.range);
        if (/^[xy]axis[0-9]*$/.test(key) && zoomed) {
          layout[key] = Object.assign({}, nextLayout[key], {
            range: axis.range.slice(),
            autorange: false,
          });
        }
      }
      return Object.assign({}, next, {layout: layout});
    },
  },
});
