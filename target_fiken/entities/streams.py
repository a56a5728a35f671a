"""Stream names: the Moment streams the target books, and the one it creates on its own."""

CUSTOMERS, PROJECTS, INVOICES = "customers", "projects", "invoices"
BANK_ACCOUNTS = "bank_accounts"  # made from invoices' bank account numbers, not a Moment stream
FINANCIAL_ACCOUNTS = "financial_accounts"  # read only: a cross-check of the chart
