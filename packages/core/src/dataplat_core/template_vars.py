"""The template variables the platform offers YAML, in one module: a defs.yaml names one
`template_vars_module`, so `template_vars_module: dataplat_core.template_vars` gives it all of them.

- `{{ upstream_changed }}`: the automation condition of `automation.py`;
- `{{ environment.<name> }}`: a value of the deployment's environment over its composition's defaults
  (`composition.py`).
"""

from dataplat_core.automation import upstream_changed
from dataplat_core.composition import environment

__all__ = ["environment", "upstream_changed"]
