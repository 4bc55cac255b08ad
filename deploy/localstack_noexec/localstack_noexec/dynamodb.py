"""A DynamoDB provider with no handler of its own: MotoFallbackDispatcher sends every operation to moto."""

from abc import ABC

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.state import StateVisitor


class DynamoDBMotoProvider(DynamodbApi, ABC):
    def accept_state_visitor(self, visitor: StateVisitor):
        from moto.dynamodb.models import dynamodb_backends

        visitor.visit(dynamodb_backends)
