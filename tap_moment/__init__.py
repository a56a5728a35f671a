"""tap-moment: a Singer tap for Moment's REST API (customers, projects, invoices)."""
