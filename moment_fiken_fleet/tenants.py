"""The tenants file: one entry per company, and where (never what) its secrets are.

```yaml
schedule: "0 * * * *"            # safety-net sync of every tenant (cron), default hourly
defaults:                         # optional, any tenant key except id/companies/secrets
  moment_base_url: https://app.moment.team
  ledger_url: postgresql://fleet@db/ledger
  rejects_path: /var/lib/moment-fiken/{tenant}/rejects.jsonl   # {tenant} = the tenant's id
tenants:
  - id: acme                      # [a-z0-9][a-z0-9_-]*: URL path, Dagster partition, state id
    moment_company: acme          # Moment company code
    fiken_company: acme-as        # Fiken company slug
    secrets:
      moment_api_key: {env: ACME_MOMENT_API_KEY}
      fiken_access_token: {file: /run/secrets/acme-fiken-token}
      webhook_secret: {env: ACME_WEBHOOK_SECRET}
```

A secret is `{env: NAME}` or `{file: PATH}`; a literal value is refused at load, so the file can
live in version control. Fiken access is either a personal token (`fiken_access_token`) or OAuth2
(`fiken_client_id`, `secrets.fiken_client_secret` and `fiken_token_store`, a path the target keeps
its rotating tokens in).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_SCHEDULE = "0 * * * *"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TenantsError(ValueError):
    """The tenants file is unusable; the message names the tenant and the field, never a secret."""


class SecretRef(BaseModel):
    """Where a secret lives: an environment variable or a file (first line, whitespace trimmed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            msg = "give exactly one of {env: NAME} or {file: PATH}"
            raise ValueError(msg)
        if self.env is not None and not _ENV_NAME.match(self.env):
            msg = "env must be an environment variable name"
            raise ValueError(msg)
        return self

    def describe(self) -> str:
        """Where the secret is read from (safe to log)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        """Read the secret.

        Raises:
            TenantsError: the variable is unset or empty, or the file is unreadable or empty.
        """
        if self.env is not None:
            value = (os.environ if environ is None else environ).get(self.env, "")
        else:
            assert self.file is not None
            try:
                value = self.file.read_text(encoding="utf-8")
            except OSError as exc:
                msg = f"cannot read {self.describe()}: {exc.strerror}"
                raise TenantsError(msg) from None
        value = value.strip()
        if not value:
            msg = f"{self.describe()} is not set or empty"
            raise TenantsError(msg)
        return value


def _secret_ref(value: Any) -> Any:
    """Refuse literal secrets before pydantic sees (and could echo) them.

    pydantic turns the ValueError into a field error naming the field, never the value.
    """
    if value is not None and not isinstance(value, Mapping):
        msg = "must be {env: NAME} or {file: PATH}, never the secret itself"
        raise ValueError(msg)
    return value


class TenantSecrets(BaseModel):
    """References to one tenant's secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    moment_api_key: SecretRef
    webhook_secret: SecretRef
    fiken_access_token: SecretRef | None = None
    fiken_client_secret: SecretRef | None = None

    _refs = field_validator(
        "moment_api_key",
        "webhook_secret",
        "fiken_access_token",
        "fiken_client_secret",
        mode="before",
    )(_secret_ref)


class TenantSettings(BaseModel):
    """Per-tenant settings that `defaults` may supply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    moment_base_url: str | None = None
    fiken_base_url: str | None = None
    fiken_client_id: str | None = None
    fiken_token_store: str | None = None
    ledger_url: str | None = None
    rejects_path: str | None = None
    start_date: str | None = None


class Tenant(TenantSettings):
    """One company: a Moment company booked into one Fiken company."""

    id: str
    moment_company: str = Field(min_length=1)
    fiken_company: str = Field(min_length=1)
    secrets: TenantSecrets

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not TENANT_ID.match(value):
            msg = "must be 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one_fiken_auth(self) -> Tenant:
        oauth = (self.fiken_client_id, self.secrets.fiken_client_secret, self.fiken_token_store)
        personal = self.secrets.fiken_access_token is not None
        if personal and any(v is not None for v in oauth):
            msg = "give either secrets.fiken_access_token or OAuth2, not both"
            raise ValueError(msg)
        if not personal and any(v is None for v in oauth):
            msg = (
                "Fiken access needs secrets.fiken_access_token, or fiken_client_id, "
                "secrets.fiken_client_secret and fiken_token_store (OAuth2)"
            )
            raise ValueError(msg)
        return self


class TenantsFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str = DEFAULT_SCHEDULE
    defaults: TenantSettings = TenantSettings()
    tenants: list[Tenant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TenantsFile:
        for attr, what in (("id", "id"), ("fiken_company", "fiken_company")):
            seen: set[str] = set()
            for tenant in self.tenants:
                value = getattr(tenant, attr)
                if value in seen:
                    msg = f"two tenants have {what} {value!r}; each must be unique"
                    raise ValueError(msg)
                seen.add(value)
        return self

    def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with that id, with `defaults` filled in, or None."""
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return self._with_defaults(tenant)
        return None

    def all(self) -> list[Tenant]:
        """Every tenant, with `defaults` filled in, in file order."""
        return [self._with_defaults(t) for t in self.tenants]

    def _with_defaults(self, tenant: Tenant) -> Tenant:
        # `{tenant}` in a default (e.g. a ledger path) becomes the tenant's id.
        fill = {
            k: v.replace("{tenant}", tenant.id)
            for k, v in self.defaults.model_dump(exclude_none=True).items()
            if getattr(tenant, k) is None
        }
        return tenant.model_copy(update=fill) if fill else tenant


def _where(loc: tuple[int | str, ...], raw: Any) -> str:
    """`tenants[1] (id 'acme').secrets.webhook_secret` from a pydantic error location."""
    parts: list[str] = []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            label = f"[{item}]"
            if index > 0 and loc[index - 1] == "tenants" and isinstance(raw, Mapping):
                entries = raw.get("tenants")
                entry = entries[item] if isinstance(entries, list) and item < len(entries) else None
                if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
                    label += f" (id {entry['id']!r})"
            parts.append(label)
        elif item not in ("function-after", "function-before") and not str(item).startswith(
            "function-"
        ):
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def parse_tenants(raw: Any, source: str = "tenants file") -> TenantsFile:
    """Validate a parsed tenants document.

    Raises:
        TenantsError: one line per problem, each naming the tenant and field (never a value).
    """
    if not isinstance(raw, Mapping):
        msg = f"{source}: must be a mapping with a 'tenants' list"
        raise TenantsError(msg)
    try:
        return TenantsFile.model_validate(raw)
    except ValidationError as exc:
        # Only location and message: pydantic's own str() would echo input values (secrets).
        lines = [
            f"{source}: {_where(tuple(err['loc']), raw)}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise TenantsError("\n".join(lines)) from None


def load_tenants(path: str | Path) -> TenantsFile:
    """Read and validate `tenants.yml`.

    Raises:
        TenantsError: the file is missing, not YAML, or invalid.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read tenants file {path}: {exc.strerror}"
        raise TenantsError(msg) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        msg = f"tenants file {path} is not valid YAML{where}"
        raise TenantsError(msg) from None
    return parse_tenants(raw, str(path))
