/* Long tables (components/grid.py, infinite row model): when a page's filters change, the
   grid drops its cached blocks and asks the server again from the first row; on a refresh
   tick it re-reads the blocks it holds and keeps the reader's place. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  dugoutGrid: {
    reload: function () {
      var ctx = window.dash_clientside.callback_context;
      var gridId = ctx.states_list[0].value;
      var tick = (ctx.triggered || []).every(function (t) {
        return /n_intervals|live-token/.test(t.prop_id);
      });
      dash_ag_grid.getApiAsync(gridId).then(function (api) {
        if (tick) {
          api.refreshInfiniteCache();
        } else {
          api.purgeInfiniteCache();
        }
      });
      return window.dash_clientside.no_update;
    },
  },
});
