"""`RestApiConnectionComponent`: an API's connection declared in YAML, by the names of its environment variables.

```yaml
type: dataplat_api_sources.components.RestApiConnectionComponent
attributes:
  key: carrier_api                  # the resource key a RestApiIngestionComponent's `client.resource` names
  base_url_env: CARRIER_API_URL
  api_key_env: CARRIER_API_KEY      # or token_env, or username_env + password_env
```
It adds one `RestApiConnection` resource whose fields are `dg.EnvVar`s: the values are read by the run worker,
never written in YAML, shown in the UI or stored by the instance. A deployment adds an API with this and a
`RestApiIngestionComponent`, in YAML alone, without a resource in Python.
"""

import dagster as dg
from pydantic import Field, model_validator

from dataplat_api_sources.declaration import RestApiConnection

_ENV_NAME = r"^[A-Z][A-Z0-9_]*$"


class RestApiConnectionComponent(dg.Component, dg.Model, dg.Resolvable):
    """A `RestApiConnection` resource under `key`, each field from the environment variable it names."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The resource key, e.g. carrier_api.")
    base_url_env: str = Field(pattern=_ENV_NAME)
    token_env: str | None = Field(default=None, pattern=_ENV_NAME, description="bearer auth")
    api_key_env: str | None = Field(default=None, pattern=_ENV_NAME, description="api_key auth")
    username_env: str | None = Field(default=None, pattern=_ENV_NAME, description="http_basic auth")
    password_env: str | None = Field(default=None, pattern=_ENV_NAME, description="http_basic auth")

    @model_validator(mode="after")
    def _basic_needs_both(self) -> "RestApiConnectionComponent":
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("http_basic needs both username_env and password_env")
        return self

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        names = {
            "base_url": self.base_url_env,
            "token": self.token_env,
            "api_key": self.api_key_env,
            "username": self.username_env,
            "password": self.password_env,
        }
        fields = {field: dg.EnvVar(name) for field, name in names.items() if name}
        return dg.Definitions(resources={self.key: RestApiConnection(**fields)})
