"""LocalStack plugins for hubsync's deploy-check (see deploy/README.md)."""
