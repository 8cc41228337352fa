/* Cell renderers for Dash AG Grid (components/grid.py). Text only: React escapes it, so feed
   text shown in a cell can never become markup. */
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

/* A run's cell: a link to its page, built from the row's run id (a UUID), never from HTML. */
dagcomponentfuncs.RunLink = function (props) {
  var id = props.data && props.data.id;
  if (!id) {
    return props.value == null ? "" : String(props.value);
  }
  return React.createElement(
    "a",
    { href: "/pipelines/" + encodeURIComponent(String(id)), className: "grid-run-link" },
    props.value == null ? String(id).slice(0, 8) : String(props.value)
  );
};
