"""The operator's commands (``hubsync dlq|replay|pause|resume|status|doctor``), against a deployed stack
or the local one alike: both are found by CloudFormation stack name (the local stack registers its
outputs in the emulator's CloudFormation) or by explicit URLs."""
