"""A Lambda runtime executor that prepares nothing and runs nothing.

Creating or updating a function only needs prepare_version to succeed: LocalStack's version manager then
marks the version Active. Invoking one (directly, from the SQS event source mapping, from the schedule)
fails with a LambdaRuntimeException instead of starting a container: the deploy check proves what was
deployed, not what the code does.
"""

import logging

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

REFUSAL = "noexec runtime executor: functions are created but never run (hubsync deploy-check)"


class NoExecRuntimeExecutor(RuntimeExecutor):
    def start(self, env_vars: dict[str, str]) -> None:
        LOG.warning("%s: refused to start %s", REFUSAL, self.function_version.qualified_arn)
        raise LambdaRuntimeException(REFUSAL)

    def stop(self) -> None:
        pass

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"http://127.0.0.1/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        raise LambdaRuntimeException(REFUSAL)

    def get_logs(self) -> str:
        return ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        LOG.debug("noexec: %s prepared (nothing to do)", function_version.qualified_arn)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True
