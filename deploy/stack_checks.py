"""deploy-check's assertions: what LocalStack holds after a deploy, against what template.yaml asks for (values
read from the template and the deploy's parameters, not hard-coded). Run by deploy/check.py."""

from __future__ import annotations

import io
import json
import re
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parent.parent
STACK = "hubsync"
REGION = "us-east-1"
OK_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
CREDS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "test"}


# ---------------------------------------------------------------- reporting
class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0
        self.not_proven: dict[str, str] = {}

    def check(self, ok: bool, what: str, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{what}: {detail}")
            print(f"  FAIL {what}: {detail}", flush=True)
        return ok

    def equal(self, actual: Any, expected: Any, what: str) -> bool:
        return self.check(actual == expected, what, f"got {actual!r}, want {expected!r}")

    def unproven(self, what: str, why: str) -> None:
        self.not_proven.setdefault(what, why)


def say(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- assertions
class Checker:
    def __init__(self, template: dict[str, Any], endpoint: str, report: Report) -> None:
        self.endpoint = endpoint
        self.t = template
        self.r = report
        kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": REGION}
        kw.update({k.lower(): v for k, v in CREDS.items()})
        # Any: the checks read the answers as plain dicts (the stubs' TypedDicts add nothing to a report).
        self.c: dict[str, Any] = {
            n: boto3.client(n, **kw)
            for n in ("cloudformation", "lambda", "sqs", "dynamodb", "logs", "events", "cloudwatch")
        }
        self.resources: dict[str, Any] = self.t["Resources"]
        self.globals_fn: dict[str, Any] = self.t.get("Globals", {}).get("Function", {})
        self.phase = ""
        self.p: dict[str, str] = {}  # parameter values of the deploy being checked
        self.physical: dict[str, str] = {}  # logical id -> physical id
        self.layer_arns: list[str] = []

    def params(self, overrides: dict[str, str]) -> dict[str, str]:
        values = {k: str(v.get("Default", "")) for k, v in self.t["Parameters"].items()}
        values.update(overrides)
        return values

    def resolve(self, value: Any, where: str) -> str | None:
        """The deployed value template.yaml asks for, where it is known without AWS: a literal, a parameter's
        value, a Ref to a resource (its physical id); None when it cannot be known here."""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (int, float, str)):
            return str(value)
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in self.p:
                return self.p[ref]
            if ref in self.physical:
                return self.physical[ref]
            self.r.check(False, f"{where}: Ref {ref}", "not a parameter nor a resource of the stack")
        return None

    def run(self, phase: str, want_status: str, overrides: dict[str, str]) -> dict[str, str]:
        """Every assertion of one deploy; returns the stack's physical ids by logical id."""
        n_before = self.r.passed + len(self.r.failures)
        self.phase, self.p = phase, self.params(overrides)
        stack = self.c["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]
        self.check_stack(stack, want_status, overrides)
        for logical, body in self.resources.items():
            checks = {
                "AWS::Serverless::Function": self.check_function,
                "AWS::SQS::Queue": self.check_queue,
                "AWS::DynamoDB::Table": self.check_table,
                "AWS::Logs::LogGroup": self.check_log_group,
                "AWS::CloudWatch::Alarm": self.check_alarm,
            }
            if body["Type"] in checks:
                checks[body["Type"]](logical, body.get("Properties", {}))
        self.check_outputs(stack)
        self.check_layer_contents()
        say(f"  [{phase}] {self.r.passed + len(self.r.failures) - n_before} assertions")
        return self.physical

    def check_stack(self, stack: dict[str, Any], want_status: str, overrides: dict[str, str]) -> None:
        r, phase = self.r, self.phase
        r.equal(stack["StackStatus"], want_status, f"[{phase}] stack status")
        deployed_params = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
        for key, value in overrides.items():
            r.equal(deployed_params.get(key), value, f"[{phase}] stack parameter {key}")
        pages = self.c["cloudformation"].get_paginator("list_stack_resources").paginate(StackName=STACK)
        res = [s for page in pages for s in page["StackResourceSummaries"]]
        self.physical = {s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in res}
        for s in res:
            status = s["ResourceStatus"]
            r.check(status in OK_STATUSES, f"[{phase}] resource {s['LogicalResourceId']} status", status)
            if s.get("PhysicalResourceId") in (None, "", "unknown"):
                r.unproven(s["ResourceType"], f"{s['LogicalResourceId']}: LocalStack stub (physical id 'unknown')")
        # every plain CloudFormation resource of template.yaml is in the stack (SAM's are expanded)
        for logical, body in self.resources.items():
            if not body["Type"].startswith("AWS::Serverless::") and "Condition" not in body:
                r.check(logical in self.physical, f"[{phase}] resource {logical} deployed", "missing from the stack")
        self.layer_arns = [s["PhysicalResourceId"] for s in res if s["ResourceType"] == "AWS::Lambda::LayerVersion"]
        r.equal(len(self.layer_arns), 1, f"[{phase}] one layer version in the stack")

    def check_function(self, logical: str, props: dict[str, Any]) -> None:
        r, g, w = self.r, self.globals_fn, f"[{self.phase}] {logical}"
        name = self.physical.get(logical)
        if not r.check(bool(name), w, "not in the stack") or name is None:
            return
        cfg = self.c["lambda"].get_function_configuration(FunctionName=name)
        r.equal(cfg.get("State"), "Active", f"{w} State")
        r.equal(cfg.get("LastUpdateStatus"), "Successful", f"{w} LastUpdateStatus")
        r.equal(cfg.get("Runtime"), g.get("Runtime"), f"{w} Runtime")
        r.equal(cfg.get("Architectures"), g.get("Architectures"), f"{w} Architectures")
        r.equal(str(cfg.get("MemorySize")), self.p["FunctionMemorySize"], f"{w} MemorySize")
        r.equal(cfg.get("Timeout"), props["Timeout"], f"{w} Timeout")
        r.equal(cfg.get("Handler"), props["Handler"], f"{w} Handler")
        r.equal(cfg.get("TracingConfig", {}).get("Mode"), g.get("Tracing"), f"{w} Tracing")
        r.equal([x["Arn"] for x in cfg.get("Layers", [])], self.layer_arns, f"{w} Layers (the common layer)")
        if "LoggingConfig" in props:
            want_group = self.physical.get(props["LoggingConfig"]["LogGroup"]["Ref"])
            r.equal(cfg.get("LoggingConfig", {}).get("LogGroup"), want_group, f"{w} LoggingConfig.LogGroup")
        self.check_environment(w, props, cfg.get("Environment", {}).get("Variables", {}))
        self.check_code(w, props, name)
        self.check_reserved_concurrency(w, props, name)
        if props.get("EventInvokeConfig"):
            self.check_event_invoke_config(w, props["EventInvokeConfig"], name)
        for ev_name, ev in props.get("Events", {}).items():
            ep = ev.get("Properties", {})
            if ev["Type"] == "SQS":
                self.check_mapping(logical, ev_name, ep, name, props["Timeout"])
            elif ev["Type"] == "Schedule":
                self.check_schedule(logical, ev_name, ep, name)
            elif ev["Type"] == "HttpApi":
                r.unproven(
                    f"{logical} HttpApi event {ev_name}",
                    "the route lives in the HTTP API's OpenAPI body, and AWS::ApiGatewayV2::Api is a stub",
                )

    def check_environment(self, w: str, props: dict[str, Any], got_env: dict[str, str]) -> None:
        """Exactly the template's variables (Globals + the function's), each resolved to its expected value."""
        r = self.r
        want_env: dict[str, Any] = dict(self.globals_fn.get("Environment", {}).get("Variables", {}))
        want_env.update(props.get("Environment", {}).get("Variables", {}))
        r.equal(sorted(got_env), sorted(want_env), f"{w} environment variable names")
        for key, raw in want_env.items():
            got = got_env.get(key)
            unresolved = (
                got is None
                or got in ("", "None", "null", "unknown")
                or "${" in got
                or re.search(r"['\"]?(Ref|Fn::\w+)['\"]?\s*:", got) is not None
            )
            r.check(not unresolved, f"{w} env {key} resolved", repr(got))
            expected = self.resolve(raw, f"{w} env {key}")
            if expected is not None:
                r.equal(got, expected, f"{w} env {key}")

    def check_reserved_concurrency(self, w: str, props: dict[str, Any], name: str) -> None:
        rce = props.get("ReservedConcurrentExecutions")
        if rce is None or self.p["ReserveConcurrency"] != "true":
            return
        want = rce["Fn::If"][1]
        want = int(self.p[want["Ref"]]) if isinstance(want, dict) else int(want)
        got = self.c["lambda"].get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        if got is None:  # LocalStack's AWS::Lambda::Function does not apply it: listed, not failed
            self.r.unproven("ReservedConcurrentExecutions", "LocalStack's AWS::Lambda::Function ignores it")
        else:
            self.r.equal(got, want, f"{w} ReservedConcurrentExecutions")

    def check_event_invoke_config(self, w: str, eic: dict[str, Any], name: str) -> None:
        r = self.r
        got = self.c["lambda"].get_function_event_invoke_config(FunctionName=name)
        r.equal(got.get("MaximumRetryAttempts"), eic["MaximumRetryAttempts"], f"{w} MaximumRetryAttempts")
        r.equal(got.get("MaximumEventAgeInSeconds"), eic["MaximumEventAgeInSeconds"], f"{w} MaximumEventAgeInSeconds")
        dest = eic["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        got_dest = got.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        r.equal(got_dest, self.queue_arn(self.physical[dest]), f"{w} OnFailure destination")

    def check_queue(self, logical: str, props: dict[str, Any]) -> None:
        r, w, url = self.r, f"[{self.phase}] {logical}", self.physical[logical]
        attrs = self.c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for key in ("MessageRetentionPeriod", "MaximumMessageSize", "VisibilityTimeout"):
            if key in props:
                r.equal(attrs.get(key), str(props[key]), f"{w} {key}")
        r.equal(attrs.get("SqsManagedSseEnabled"), "true", f"{w} SqsManagedSseEnabled")
        if "RedrivePolicy" in props:
            rp = json.loads(attrs.get("RedrivePolicy", "{}"))
            dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            r.equal(rp.get("deadLetterTargetArn"), self.queue_arn(self.physical[dlq]), f"{w} RedrivePolicy DLQ")
            want_mrc = self.resolve(props["RedrivePolicy"]["maxReceiveCount"], w)
            r.equal(str(rp.get("maxReceiveCount")), want_mrc, f"{w} RedrivePolicy maxReceiveCount")
        if "RedriveAllowPolicy" in props:
            rap = json.loads(attrs.get("RedriveAllowPolicy", "{}"))
            r.equal(rap.get("redrivePermission"), "byQueue", f"{w} RedriveAllowPolicy permission")
            sources = [self.queue_arn(self.physical["EventQueue"])]
            r.equal(rap.get("sourceQueueArns"), sources, f"{w} RedriveAllowPolicy sources")

    def check_table(self, logical: str, props: dict[str, Any]) -> None:
        r, ddb, w, name = self.r, self.c["dynamodb"], f"[{self.phase}] {logical}", self.physical[logical]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        spec = props["TimeToLiveSpecification"]
        r.equal(ttl.get("AttributeName"), spec["AttributeName"], f"{w} TTL attribute")
        r.equal(ttl.get("TimeToLiveStatus"), "ENABLED" if spec["Enabled"] else "DISABLED", f"{w} TTL status")
        table = ddb.describe_table(TableName=name)["Table"]
        r.equal(table.get("BillingModeSummary", {}).get("BillingMode"), props["BillingMode"], f"{w} BillingMode")
        keys = [k["AttributeName"] for k in table["KeySchema"]]
        r.equal(keys, [k["AttributeName"] for k in props["KeySchema"]], f"{w} KeySchema")
        r.equal(table.get("SSEDescription", {}).get("Status"), "ENABLED", f"{w} SSE")
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
            if pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED":
                r.passed += 1
            else:  # LocalStack's AWS::DynamoDB::Table does not apply it: listed, not failed
                r.unproven("PointInTimeRecoverySpecification", "LocalStack's AWS::DynamoDB::Table ignores it")

    def check_log_group(self, logical: str, props: dict[str, Any]) -> None:
        name = self.physical[logical]
        groups = self.c["logs"].describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if not self.r.check(group is not None, f"[{self.phase}] {logical} log group exists", name) or group is None:
            return
        if group.get("retentionInDays") is None:  # LocalStack does not apply it: listed, not failed
            self.r.unproven("AWS::Logs::LogGroup RetentionInDays", "LocalStack's AWS::Logs::LogGroup ignores it")
        else:
            want = self.resolve(props["RetentionInDays"], logical)
            self.r.equal(str(group["retentionInDays"]), want, f"[{self.phase}] {logical} RetentionInDays")

    def check_alarm(self, logical: str, props: dict[str, Any]) -> None:
        r, w = self.r, f"[{self.phase}] {logical}"
        alarms = self.c["cloudwatch"].describe_alarms(AlarmNames=[self.physical[logical]])["MetricAlarms"]
        if not r.equal(len(alarms), 1, f"{w} alarm exists"):
            return
        alarm = alarms[0]
        for key in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "ComparisonOperator"):
            r.equal(alarm.get(key), props[key], f"{w} {key}")
        r.equal(str(int(alarm.get("Threshold", -1))), self.resolve(props["Threshold"], w), f"{w} Threshold")
        # [!If [HasAlarmTopic, !Ref AlarmTopicArn, !Ref AlarmTopic]]
        topic = self.p["AlarmTopicArn"] or self.physical.get("AlarmTopic")
        r.equal(alarm.get("AlarmActions"), [topic], f"{w} AlarmActions")
        r.equal(alarm.get("OKActions"), [topic], f"{w} OKActions")

    def check_outputs(self, stack: dict[str, Any]) -> None:
        r, phase = self.r, self.phase
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
        for key in self.t.get("Outputs", {}):
            value = outputs.get(key) or ""
            ok = bool(value) and "${" not in value and value != "None"
            if r.check(ok, f"[{phase}] output {key}", repr(value)) and "unknown" in value:
                r.unproven(f"output {key}", f"built from a stubbed resource: {value}")
        want_esm = self.physical.get("UpdaterFunctionQueueEvent")
        r.equal(outputs.get("UpdaterEventSourceMappingId"), want_esm, f"[{phase}] output UpdaterEventSourceMappingId")
        want_layer = self.layer_arns[0] if self.layer_arns else None
        r.equal(outputs.get("CommonLayerArn"), want_layer, f"[{phase}] output CommonLayerArn")

    def queue_arn(self, url: str) -> str:
        arn: str = self.c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return arn

    def check_mapping(self, fn_logical: str, ev_name: str, ep: dict[str, Any], fn_name: str, timeout: int) -> None:
        r, w = self.r, f"[{self.phase}] {fn_logical}.{ev_name} mapping"
        uuid = self.physical.get(f"{fn_logical}{ev_name}")  # SAM's logical id for the mapping
        if not r.check(bool(uuid), w, "not in the stack"):
            return
        m = self.c["lambda"].get_event_source_mapping(UUID=uuid)
        queue_logical = ep["Queue"]["Fn::GetAtt"][0]
        queue_url = self.physical[queue_logical]
        r.equal(m.get("EventSourceArn"), self.queue_arn(queue_url), f"{w} EventSourceArn")
        r.check(m.get("FunctionArn", "").endswith(f":function:{fn_name}"), f"{w} FunctionArn", m.get("FunctionArn"))
        r.equal(m.get("State"), "Enabled" if ep.get("Enabled", True) else "Disabled", f"{w} State")
        r.equal(str(m.get("BatchSize")), self.resolve(ep["BatchSize"], w), f"{w} BatchSize")
        window = self.resolve(ep["MaximumBatchingWindowInSeconds"], w)
        r.equal(str(m.get("MaximumBatchingWindowInSeconds")), window, f"{w} MaximumBatchingWindowInSeconds")
        conc = self.resolve(ep["ScalingConfig"]["MaximumConcurrency"], w)
        got_conc = str(m.get("ScalingConfig", {}).get("MaximumConcurrency"))
        r.equal(got_conc, conc, f"{w} ScalingConfig.MaximumConcurrency")
        types = m.get("FunctionResponseTypes", [])
        r.check("ReportBatchItemFailures" in types, f"{w} FunctionResponseTypes has ReportBatchItemFailures", types)
        # the queue's visibility timeout covers 6 x the function timeout, plus the largest batching window
        attrs = self.c["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
        vis = int(attrs["Attributes"]["VisibilityTimeout"])
        max_window = int(self.t["Parameters"]["UpdaterBatchingWindowSeconds"]["MaxValue"])
        r.check(vis >= 6 * timeout, f"{w} {queue_logical} VisibilityTimeout >= 6 x Timeout", f"{vis}, {timeout}")
        r.check(
            vis >= 6 * timeout + max_window,
            f"{w} {queue_logical} VisibilityTimeout >= 6 x Timeout + largest window",
            f"{vis} < 6 x {timeout} + {max_window}",
        )

    def check_schedule(self, fn_logical: str, ev_name: str, ep: dict[str, Any], fn_name: str) -> None:
        r, ev, w = self.r, self.c["events"], f"[{self.phase}] {fn_logical}.{ev_name} schedule"
        rule_name = self.physical.get(f"{fn_logical}{ev_name}")
        if not r.check(bool(rule_name), w, "rule not in the stack"):
            return
        rule = ev.describe_rule(Name=rule_name)
        r.equal(rule.get("ScheduleExpression"), ep["Schedule"], f"{w} ScheduleExpression")
        r.equal(rule.get("State"), "ENABLED" if ep.get("Enabled", True) else "DISABLED", f"{w} State")
        arns = [t["Arn"] for t in ev.list_targets_by_rule(Rule=rule_name)["Targets"]]
        r.check(any(a.split(":function:")[-1].split(":")[0] == fn_name for a in arns), f"{w} targets it", arns)

    # ------------------------------------------------------------ what was uploaded: the code and the layer
    def _download(self, location: str) -> zipfile.ZipFile:
        """A code or layer zip from the Location LocalStack answers, fetched from its own endpoint (the URL's host,
        localhost.localstack.cloud, needs a DNS lookup this check does not rely on)."""
        url = urllib.parse.urlsplit(location)
        local = urllib.parse.urlsplit(self.endpoint)
        with urllib.request.urlopen(url._replace(scheme=local.scheme, netloc=local.netloc).geturl(), timeout=30) as got:
            return zipfile.ZipFile(io.BytesIO(got.read()))

    def check_code(self, w: str, props: dict[str, Any], name: str) -> None:
        """The deployed handler is the repository's: the zip's app.py is byte for byte functions/<dir>/app.py."""
        location = self.c["lambda"].get_function(FunctionName=name)["Code"]["Location"]
        code = self._download(location)
        source = REPO / props["CodeUri"] / "app.py"
        deployed = code.read("app.py") if "app.py" in code.namelist() else b""
        self.r.check(deployed == source.read_bytes(), f"{w} code: app.py is {source.relative_to(REPO)}", len(deployed))

    def check_layer_contents(self) -> None:
        """The layer holds every module of the core (layers/common/hubsync) and each requirement of
        layers/common/requirements.txt under python/, where the runtime looks; its compiled extensions are
        for the runtime (CPython 3.13) and the architecture the template names; nothing of the dev stack or
        the operator's tool is in it."""
        r, w = self.r, f"[{self.phase}] layer"
        if not self.layer_arns:
            return
        layer = self.c["lambda"].get_layer_version_by_arn(Arn=self.layer_arns[0])
        archive = self._download(layer["Content"]["Location"])
        names = set(archive.namelist())
        core = REPO / "layers" / "common"
        modules = sorted(f"python/{p.relative_to(core).as_posix()}" for p in (core / "hubsync").rglob("*.py"))
        missing = [m for m in modules if m not in names]
        r.check(not missing, f"{w}: the core's {len(modules)} modules under python/hubsync/", missing[:5])
        for line in (core / "requirements.txt").read_text().splitlines():
            requirement = line.split("#", 1)[0].strip()
            if requirement:
                package = re.split(r"[=<>!~\[ ]", requirement, maxsplit=1)[0].replace("-", "_").lower()
                r.check(f"python/{package}/__init__.py" in names, f"{w}: requirement {requirement}", package)
        architecture = {"arm64": "aarch64", "x86_64": "x86_64"}[self.globals_fn["Architectures"][0]]
        runtime = self.globals_fn["Runtime"].removeprefix("python").replace(".", "")  # python3.13 -> 313
        extensions = [n for n in names if n.endswith(".so") and ".cpython-" in n]
        wrong = [n for n in extensions if f".cpython-{runtime}-{architecture}-linux-gnu.so" not in n]
        built_for = f"cpython-{runtime} {architecture}"
        r.check(bool(extensions) and not wrong, f"{w}: compiled extensions for {built_for}", wrong[:5])
        # Every shared object's ELF header (abi3 ones included): e_machine, at byte 18, little-endian.
        machine = {"aarch64": 0xB7, "x86_64": 0x3E}[architecture]
        shared = [n for n in names if n.endswith(".so") or ".so." in n]
        foreign = [n for n in shared if int.from_bytes(archive.read(n)[18:20], "little") != machine]
        r.check(
            bool(shared) and not foreign, f"{w}: {len(shared)} shared objects built for {architecture}", foreign[:5]
        )
        stray = [n for n in names if n.startswith(("python/hubsync_local/", "python/hubsync_cli/", "python/tests/"))]
        r.check(not stray, f"{w}: no dev stack or operator tool", stray[:5])
