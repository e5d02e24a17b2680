"""The code location: the components declared under defs/, composed with the environment's resources.

In prod every step runs in its own Kubernetes job (dagster-k8s), started by the K8sRunLauncher's run pod.
"""

import dagster as dg
from dagster_k8s import k8s_job_executor
from dataplat_core.definitions import code_location


@dg.definitions
def defs() -> dg.Definitions:
    return code_location(__file__, environment="prod", executor=k8s_job_executor)
