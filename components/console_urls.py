"""AWS console addresses of a stack's resources: what an operator opens first (pure functions).

The pipeline stack exports them as ``console_urls`` (state machine, its log group, the DLQ and the
ops dashboard) when monitoring is on.
"""

from __future__ import annotations

from urllib.parse import quote


def _console(region: str, service: str) -> str:
    return f"https://{region}.console.aws.amazon.com/{service}/home?region={region}"


def state_machine_console_url(region: str, state_machine_arn: str) -> str:
    return f"{_console(region, 'states')}#/statemachines/view/{quote(state_machine_arn, safe='')}"


def log_group_console_url(region: str, log_group_name: str) -> str:
    # The CloudWatch console decodes this fragment twice and spells the outer '%' as '$25'.
    encoded = quote(log_group_name, safe="").replace("%", "$25")
    return f"{_console(region, 'cloudwatch')}#logsV2:log-groups/log-group/{encoded}"


def queue_console_url(region: str, queue_url: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sqs/v3/home?region={region}#/queues/{quote(queue_url, safe='')}"


def dashboard_console_url(region: str, dashboard_name: str) -> str:
    return f"{_console(region, 'cloudwatch')}#dashboards/dashboard/{quote(dashboard_name, safe='')}"


def console_urls(region: str, state_machine_arn: str, log_group_name: str, dlq_url: str, dashboard_name: str) -> dict[str, str]:
    return {
        "state_machine": state_machine_console_url(region, state_machine_arn),
        "log_group": log_group_console_url(region, log_group_name),
        "dlq": queue_console_url(region, dlq_url),
        "dashboard": dashboard_console_url(region, dashboard_name),
    }
