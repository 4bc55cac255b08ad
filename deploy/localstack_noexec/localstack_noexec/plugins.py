"""Entry points (pyproject.toml): LAMBDA_RUNTIME_EXECUTOR=noexec and PROVIDER_OVERRIDE_DYNAMODB=moto.

Imports stay inside the factories: LocalStack's plugin manager reads the entry points long before the
services load.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.plugins import Service, aws_provider


class NoExecRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "noexec"

    def load(self, *args, **kwargs):
        from localstack_noexec.executor import NoExecRuntimeExecutor

        return NoExecRuntimeExecutor


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    """DynamoDB served wholly by moto (no DynamoDB Local, so no Java download)."""
    from localstack.services.moto import MotoFallbackDispatcher

    from localstack_noexec.dynamodb import DynamoDBMotoProvider

    return Service.for_provider(DynamoDBMotoProvider(), dispatch_table_factory=MotoFallbackDispatcher)
