"""hubsync deploy-check: `sam build` + `sam deploy` of template.yaml into LocalStack (in-process, no Docker),
then an update deploy with changed parameters, each asserted against what template.yaml says.

Run with .venv-localstack's python (make deploy-check). SAM CLI comes from its own environment (SAM, default
.venv-sam/bin/sam): its pins (boto3, click) cannot share one with localstack-core's. Exit status 1 on any
failed assertion; the report ends with what LocalStack only stubs or ignores (not proven here).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from stack_checks import CREDS, REGION, STACK, Checker, Report, say

REPO = Path(__file__).resolve().parent.parent
# The local stack's template reader (yaml and the standard library only, so it runs in .venv-localstack too): the
# short tags (!Ref, !GetAtt, ...) read into their long form, as everywhere else in the repository.
sys.path.insert(0, str(REPO / "local"))
from hubsync_local.template import TEMPLATE_PATH as TEMPLATE  # noqa: E402
from hubsync_local.template import load_template  # noqa: E402

# The update deploy: parameters that flow into the event source mapping, the queue's RedrivePolicy and the
# updater's environment (MAX_RECEIVE_COUNT), each moved off its default.
UPDATE_OVERRIDES = {"UpdaterBatchSize": "500", "UpdaterBatchingWindowSeconds": "20", "MaxReceiveCount": "8"}


# ---------------------------------------------------------------- LocalStack
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_localstack(work: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    fs_root = work / "localstack-fs"
    fs_root.mkdir()
    log_path = work / "localstack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        OVERRIDE_IN_DOCKER="0",  # host mode: no container checks, paths under FILESYSTEM_ROOT
        FILESYSTEM_ROOT=str(fs_root),
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        PROVIDER_OVERRIDE_DYNAMODB="moto",  # deploy/localstack_noexec: moto, not DynamoDB Local (Java download)
        LAMBDA_RUNTIME_EXECUTOR="noexec",  # deploy/localstack_noexec: functions become Active, never run
        CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES="1",  # stub what community LocalStack lacks (reported below)
        SKIP_SSL_CERT_DOWNLOAD="1",  # self-signed certificate, no download
        DISABLE_EVENTS="1",  # no analytics
        DNS_ADDRESS="0",  # no DNS server (port 53)
        EAGER_SERVICE_LOADING="0",
        PERSISTENCE="0",
    )
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "localstack.runtime.main"],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    url = f"http://127.0.0.1:{port}/_localstack/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"LocalStack exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and "Ready." in log_path.read_text():
                    return proc, log_path
        except OSError:
            pass
        time.sleep(0.5)
    stop_localstack(proc)
    raise SystemExit(f"LocalStack not healthy after 90 s:\n{log_path.read_text()[-3000:]}")


def stop_localstack(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---------------------------------------------------------------- SAM
def sam_env(endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDS, AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, SAM_CLI_TELEMETRY="0")
    # sam build runs the python3.13 on PATH (Runtime: python3.13): this environment's interpreter is one.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def run_sam(sam: str, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    start = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ sam {' '.join(args)}\n".encode())
        out.flush()
        rc = subprocess.call([sam, *args], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    took = time.monotonic() - start
    if rc != 0:
        say(log.read_text()[-4000:])
        raise SystemExit(f"sam {args[0]} failed (exit {rc}); full output in {log}")
    return took


def deploy_args(built: Path, overrides: dict[str, str]) -> list[str]:
    args = [
        "deploy",
        "--template-file", str(built / "template.yaml"),
        "--stack-name", STACK,
        "--region", REGION,
        "--resolve-s3",
        "--s3-prefix", STACK,
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
    ]  # fmt: skip
    if overrides:
        args += ["--parameter-overrides", *(f"{k}={v}" for k, v in overrides.items())]
    return args


def stubbed_types_from_log(log_path: Path) -> dict[str, str]:
    found = {}
    for m in re.finditer(r'No resource provider found for "([^"]+)"', log_path.read_text(errors="replace")):
        found[m.group(1)] = "no LocalStack (community) resource provider: CREATE_COMPLETE is a stub"
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sam", default=os.environ.get("SAM", str(REPO / ".venv-sam" / "bin" / "sam")))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, build)")
    args = ap.parse_args()
    sam = shutil.which(args.sam)
    if not sam:
        raise SystemExit(f"SAM CLI not found at {args.sam} (make .venv-sam/.installed, or SAM=...)")
    sam = os.path.abspath(sam)  # sam runs with its cwd in the work dir
    if sys.version_info[:2] != (3, 13):
        raise SystemExit("run with a Python 3.13 environment (.venv-localstack): sam build needs python3.13")

    template = load_template()
    report = Report()
    timings: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="hubsync-deploy-check-"))
    sam_log = work / "sam.log"
    t_all = time.monotonic()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = None
    try:
        say(f"deploy-check: work dir {work}; LocalStack on {endpoint}")
        t0 = time.monotonic()
        proc, ls_log = start_localstack(work, port)
        timings["localstack start"] = time.monotonic() - t0
        say(f"  LocalStack ready ({timings['localstack start']:.1f} s)")

        built = work / "build"
        # cwd=work: sam keeps its dependency cache in ./.aws-sam/deps, which must not land in the repo.
        build_args = ["build", "--template", str(TEMPLATE), "--build-dir", str(built)]
        build_args += ["--cache-dir", str(work / "cache")]
        timings["sam build"] = run_sam(sam, build_args, sam_env(None), work, sam_log)
        say(f"  sam build ({timings['sam build']:.1f} s)")

        timings["create deploy"] = run_sam(sam, deploy_args(built, {}), sam_env(endpoint), work, sam_log)
        say(f"  sam deploy, create ({timings['create deploy']:.1f} s)")
        checker = Checker(template, endpoint, report)
        before = checker.run("create", "CREATE_COMPLETE", {})

        timings["update deploy"] = run_sam(sam, deploy_args(built, UPDATE_OVERRIDES), sam_env(endpoint), work, sam_log)
        say(f"  sam deploy, update {UPDATE_OVERRIDES} ({timings['update deploy']:.1f} s)")
        after = checker.run("update", "UPDATE_COMPLETE", UPDATE_OVERRIDES)
        report.equal(
            after.get("UpdaterFunctionQueueEvent"),
            before.get("UpdaterFunctionQueueEvent"),
            "[update] event source mapping updated in place (same UUID)",
        )
        for key, why in stubbed_types_from_log(ls_log).items():
            report.unproven(key, why)
        report.unproven("IAM roles", "created with their policies, but LocalStack does not enforce IAM by default")
        report.unproven(
            "function code",
            "the noexec executor never runs a function: handlers, the layer's contents and IAM are not exercised",
        )
    finally:
        if proc is not None:
            stop_localstack(proc)
        timings["total"] = time.monotonic() - t_all

    say("\n==== deploy-check report")
    say("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    say(f"assertions passed: {report.passed}, failed: {len(report.failures)}")
    for f in report.failures:
        say(f"  FAILED {f}")
    say("not proven (LocalStack stubs or ignores these):")
    for what, why in sorted(report.not_proven.items()):
        say(f"  - {what}: {why}")
    if args.keep or report.failures:
        say(f"logs kept in {work} (sam.log, localstack.log)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
