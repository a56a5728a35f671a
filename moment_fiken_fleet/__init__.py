"""Many companies, in near real time: Moment webhooks trigger per-company runs on Dagster.

- `tenants`: the tenants file (`tenants.yml`): one entry per company, secrets by reference only.
- `events`: the durable webhook event queue (SQLite or PostgreSQL through SQLAlchemy).
- `receiver`: the `moment-fiken-webhooks` ASGI app, served by uvicorn.
- `dispatch`: which pending events become which Dagster run requests (pure).
- `runner`: one tenant's `meltano run tap-moment target-fiken`, and its summary.
- `definitions`: the Dagster code location (`dagster dev -m moment_fiken_fleet.definitions`).

Needs the `fleet` extra (`pip install 'moment-fiken[fleet]'`).
"""
