"""A PostgreSQL state backend for Meltano: `state_backend.uri: postgresql://...`.

Meltano 4 has no built-in `postgresql://` state backend, and the community package named in its
docs is not published on PyPI, so this small add-on fills the gap through Meltano's documented
`meltano.state_backends` entry point (see docs.meltano.com/guide/custom-state-backend).
"""
