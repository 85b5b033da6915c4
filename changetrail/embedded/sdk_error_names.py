"""Error names of the ``aws-sdk:s3`` tasks as Step Functions gives them: ``S3.<Exception>``.

AWS (Step Functions developer guide, "Integrating with other services through the AWS SDK"): an
SDK integration's error is named after the service and the SDK's exception, ``S3.NoSuchKeyException``,
and an S3 error the SDK models no exception for (PreconditionFailed, SlowDown, InternalError, a 503)
is ``S3.S3Exception``. moto's interpreter writes the service in lower case (``s3.s3Exception``), so a
Retry or Catch written for AWS's names would never match here, nor one written for moto's on AWS.
"""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

AWS_SERVICE_ERROR_NAMES = {"s3": "S3"}
_names = state_task_service_aws_sdk._SERVICE_ERROR_NAMES
_saved = dict(_names)


def install() -> None:
    _names.update(AWS_SERVICE_ERROR_NAMES)


def uninstall() -> None:
    _names.clear()
    _names.update(_saved)
