"""``changetrail``: the operator CLI. Thin argument handling over library functions."""

from __future__ import annotations

import argparse
import json
import sys
from argparse import ArgumentTypeError
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from changetrail.executions import NoSuchExecutionError
from changetrail.history import KeyInSeveralTablesError
from changetrail.local import PortInUseError
from changetrail.outputs import OutputsError
from changetrail.redrive import MAX_VISIBILITY_SECONDS, SCAN_VISIBILITY_SECONDS
from changetrail.restore import RestoreError
from changetrail.stack_config import StackConfigError
from components.errors import ConfigError


def _quiet_logs() -> None:
    from changetrail.embedded import quiet_handlers

    quiet_handlers()


def cmd_demo(args: argparse.Namespace) -> int:
    from changetrail import demo

    _quiet_logs()
    demo.run(args.stack)
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    from changetrail import local

    _quiet_logs()
    local.serve(args.stack, args.port, args.outputs, lambda line: print(line, flush=True), args.console_port)
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from changetrail import console
    from changetrail.local import ensure_port_free
    from changetrail.outputs import load_outputs

    outputs = load_outputs(args.outputs, args.stack)
    ensure_port_free(args.port)
    choice = argparse.Namespace(source=args.source, since=args.since)  # auto: detected on the first request, then kept
    console.serve(outputs, lambda _clients: _execution_source(choice, outputs), args.port, lambda line: print(line, flush=True))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from changetrail import history
    from changetrail.outputs import aws_client, check_table, load_outputs, source_tables

    outputs = load_outputs(args.outputs, args.stack)
    ddb = aws_client("dynamodb", outputs)
    audit, index, table = outputs["audit_table_name"], outputs["audit_history_index"], check_table(outputs, args.table)
    rows, left_out = history.stack_history(ddb, audit, index, args.key, source_tables(outputs), table, args.limit)
    if left_out:
        print(f"changetrail: left out {left_out} row(s) naming no table of this stack: run changetrail verify", file=sys.stderr)
    if args.json:
        print(json.dumps([history.row_json(row) for row in rows], indent=2, ensure_ascii=False))
    else:
        print(history.render(rows) if rows else f"no audit rows for {args.key!r}" + (f" in {args.table}" if args.table else ""))
    return 0


def _visibility(text: str) -> int:
    """SQS accepts visibility timeouts from 0 to 12 hours; 0 would show a message to others while it is redriven."""
    value = _positive(text)
    if value > MAX_VISIBILITY_SECONDS:
        raise ArgumentTypeError(f"{text!r}: SQS allows at most {MAX_VISIBILITY_SECONDS} seconds (12 hours)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ArgumentTypeError(f"{text!r}: use a whole number of at least 1")
    return value


def cmd_executions(args: argparse.Namespace) -> int:
    from changetrail import executions
    from changetrail.outputs import check_table, load_outputs

    outputs = load_outputs(args.outputs, args.stack)
    table = check_table(outputs, args.table)
    source = _execution_source(args, outputs)
    if args.name:
        found = [source.show(args.name)]
    else:
        found = source.recent(args.limit, table)
        if table and source.unnamed:
            print(f"changetrail: {executions.unnamed_note(source.unnamed, table)}", file=sys.stderr)
        if args.status:
            found = [e for e in found if e.status == args.status.upper()]
    if args.json:
        print(json.dumps([e.to_json() for e in found], indent=2))
    elif args.name:
        print(executions.render_timeline(found[0]))
    else:
        print(executions.render_list(found) if found else "no executions found")
    return 0


def _execution_source(args: argparse.Namespace, outputs: dict[str, Any]) -> Any:
    from changetrail import executions

    return executions.execution_source(outputs, args.source, parse_duration(args.since))


def parse_duration(text: str) -> timedelta:
    """``30m``, ``6h``, ``2d`` -> timedelta."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    try:
        return timedelta(**{units[text[-1]]: float(text[:-1])})
    except (KeyError, ValueError, IndexError) as error:
        raise argparse.ArgumentTypeError(f"--since {text!r}: use a number and m, h or d, e.g. 6h") from error


def cmd_redrive(args: argparse.Namespace) -> int:
    from changetrail import executions
    from changetrail.outputs import aws_client, check_table, load_outputs
    from changetrail.redrive import SERVICES, Redriver, RedriveSettings

    outputs = load_outputs(args.outputs, args.stack)
    table = check_table(outputs, args.table)
    history = executions.execution_source(outputs, since=timedelta(hours=2)) if args.wait else None
    settings = RedriveSettings(
        table=table,
        max_messages=args.max,
        error=args.error,
        dry_run=args.dry_run,
        wait=args.wait,
        max_attempts=args.max_attempts,
        visibility_timeout=args.visibility_timeout,
    )
    summary = Redriver(outputs, {name: aws_client(name, outputs) for name in SERVICES}, history).run(
        settings, _progress_bar("redrive")
    )
    print(json.dumps(summary.to_json()) if args.json else summary.render(args.dry_run))
    return 0


def _archive(outputs: dict[str, Any]) -> Any:
    from changetrail.archive import Archive, reader_client

    return Archive(reader_client(outputs), outputs["archive_bucket_name"], outputs.get("archive_prefix", ""))


def _time(text: str) -> datetime:
    from changetrail.archive import parse_time

    try:
        return parse_time(text)
    except ValueError as error:
        raise ArgumentTypeError(str(error)) from error


def cmd_replay(args: argparse.Namespace) -> int:
    from changetrail import replay
    from changetrail.outputs import aws_client, check_table, load_outputs, source_tables

    outputs = load_outputs(args.outputs, args.stack)
    start, end = _time(args.start), _time(args.end) if args.end else datetime.now(UTC)
    tables = [str(check_table(outputs, args.table))] if args.table else source_tables(outputs)
    archive = _archive(outputs)
    for table in tables:
        if args.stdout:
            for _, lines in replay.selected(archive, table, start, end, args.key):
                for line in lines:
                    print(json.dumps(line, ensure_ascii=False))
            continue
        names = replay.start_replays(
            outputs, archive, table, start, end, args.key, aws_client("stepfunctions", outputs), aws_client("s3", outputs)
        )
        print(f"started {len(names)} replay execution(s) for {table} from {start.isoformat()} to {end.isoformat()}")
        for name in names:
            print(f"  {name}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from changetrail import restore
    from changetrail.outputs import aws_client, check_table, load_outputs

    outputs = load_outputs(args.outputs, args.stack)
    ddb = aws_client("dynamodb", outputs)
    found = restore.plan(
        outputs, ddb, _archive(outputs), args.key, _time(args.at) if args.at else None, check_table(outputs, args.table)
    )
    change = found.change
    print(
        f"{found.item_key} in {found.table}, as after {change['eventName']} at {change['modificationTime']}"
        + (" (restoring the deleted item)" if change["eventName"] == "REMOVE" else "")
    )
    print(json.dumps(found.image, indent=2, ensure_ascii=False))
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    restore.apply(ddb, found)
    print(f"restored {found.item_key} into {found.table}")
    return 0


def _parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise ArgumentTypeError(f"--param {text!r}: use NAME=VALUE, e.g. --param item=A")
    return name, value


def cmd_query(args: argparse.Namespace) -> int:
    from changetrail import query
    from changetrail.outputs import check_table, load_outputs, source_tables

    if args.list:
        for named in query.named_queries().values():
            takes = " ".join(f"--param {name}=VALUE" for name in named.parameters)
            print(f"{named.name}\t{named.description}" + (f"\t({takes})" if takes else ""))
        return 0
    if not args.sql:
        raise ArgumentTypeError("give the SQL, or the name of a named query (changetrail query --list)")
    parameters = dict(_parameter(text) for text in args.param)
    try:
        sql = query.resolve(args.sql, parameters)
    except query.QueryError as error:
        raise ArgumentTypeError(str(error)) from None
    outputs = load_outputs(args.outputs, args.stack)
    start = _time(args.start) if args.start else datetime(1970, 1, 1, tzinfo=UTC)
    end = _time(args.end) if args.end else datetime.now(UTC)
    tables = [str(check_table(outputs, args.table))] if args.table else source_tables(outputs)
    try:
        collected, found = query.run(_archive(outputs), tables, start, end, sql, args.format, sys.stdout, parameters)
    except query.QueryError as error:
        raise ArgumentTypeError(f"the query could not run: {error}") from None
    print(f"query: {found} rows from {collected.objects} archive objects", file=sys.stderr)
    if collected.unreadable:
        shown = ", ".join(collected.unreadable[:5]) + (" ..." if len(collected.unreadable) > 5 else "")
        print(
            f"query: left out {len(collected.unreadable)} lines that are no JSON object ({shown}): run changetrail verify",
            file=sys.stderr,
        )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from changetrail import verify
    from changetrail.outputs import load_outputs

    outputs = load_outputs(args.outputs, args.stack)
    start, end = _time(args.start) if args.start else None, _time(args.end) if args.end else None
    try:
        report = _verify_report(args, outputs, start, end)
    except verify.VerifyError as error:  # the user's request: exit 2, as for every user error
        raise ArgumentTypeError(str(error)) from error
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - nothing proven either way: say why, exit 3
        reason = verify.could_not_verify(error)
        print(f"changetrail verify: could not verify: {reason}", file=sys.stderr)
        if args.json:
            print(verify.could_not_verify_json(reason))
        return verify.EXIT_COULD_NOT_VERIFY
    print(verify.to_json(report) if args.json else verify.render(report))
    accepted = report.clean or (args.allow_pending and report.only_pending)
    return verify.EXIT_CLEAN if accepted else verify.EXIT_FINDINGS


def _verify_report(args: argparse.Namespace, outputs: dict[str, Any], start: datetime | None, end: datetime | None) -> Any:
    from changetrail import verify
    from changetrail.outputs import aws_client
    from changetrail.redrive import SERVICES, waiting_changes

    # Read first: a row of a change that waits to be redriven is pending, not forged.
    waiting = waiting_changes(outputs, {name: aws_client(name, outputs) for name in SERVICES})
    progress = lambda message: print(f"verify: {message}", file=sys.stderr, flush=True)  # noqa: E731
    return verify.verify(
        outputs, _archive(outputs), aws_client("dynamodb", outputs), start, end, args.table, args.source, progress, waiting
    )


def cmd_cost(args: argparse.Namespace) -> int:
    from changetrail import cost

    _quiet_logs()
    print(f"running {args.changes} synthetic changes through stack '{args.stack}' on the embedded AWS ...", file=sys.stderr)
    try:
        overrides = cost.merge_overrides(args.set)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = cost.report(args.stack, args.changes, args.item_size, overrides)
    print(json.dumps(result, indent=2) if args.json else cost.render(result))
    return 0


def _progress_bar(label: str) -> Any:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, action: str) -> None:
        filled = int(30 * done / max(total, 1))
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {action:<18}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack name (default: dev)")
    parser.add_argument(
        "--outputs",
        metavar="FILE",
        help="stack outputs JSON (from `changetrail local --outputs` or `pulumi stack output --json`); "
        "default: ask the pulumi CLI",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="changetrail", description="Operate the changetrail DynamoDB audit pipeline.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a scripted scenario on the embedded local AWS and print what happened")
    demo.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml configures the run (default: dev)")
    demo.set_defaults(handler=cmd_demo)

    from changetrail.local import DEFAULT_PORT

    local = commands.add_parser("local", help="serve the stack on a local AWS endpoint until interrupted")
    local.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml configures it (default: dev)")
    local.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default: {DEFAULT_PORT})")
    local.add_argument("--outputs", metavar="FILE", help="write the stack outputs here as JSON")
    local.add_argument("--console-port", type=int, help="port of the console page (default: --port + 1, or any free one)")
    local.set_defaults(handler=cmd_local)

    console = commands.add_parser("console", help="the console page (executions, dead letters, item history) for a stack")
    _add_stack_arguments(console)
    console.add_argument("--port", type=int, default=DEFAULT_PORT + 1, help=f"port on 127.0.0.1 (default: {DEFAULT_PORT + 1})")
    console.add_argument("--source", choices=["auto", "history", "logs"], default="auto", help="as for executions")
    console.add_argument("--since", default="24h", help="how far back the logs source looks (default: 24h)")
    console.set_defaults(handler=cmd_console)

    item = commands.add_parser("history", help="one item's audit history, newest first, values whole")
    _add_stack_arguments(item)
    item.add_argument("--key", required=True, metavar="K", help="the item's itemKey (hash|range for composite keys)")
    item.add_argument("--table", metavar="T", help="only rows of this source table (default: every audited table)")
    item.add_argument("--limit", type=_positive, metavar="N", help="at most N rows (default: all)")
    item.add_argument("--json", action="store_true", help="rows as JSON, values in DynamoDB JSON (exact)")
    item.set_defaults(handler=cmd_history)

    execs = commands.add_parser("executions", help="recent executions, or one execution's timeline")
    execs.add_argument("name", nargs="?", help="an execution name or ARN: show its state-by-state timeline")
    _add_stack_arguments(execs)
    execs.add_argument("--limit", type=int, default=20, help="how many recent executions (default: 20)")
    execs.add_argument("--status", choices=["SUCCEEDED", "FAILED", "RUNNING", "succeeded", "failed", "running"])
    execs.add_argument("--table", metavar="T", help="list only executions of this source table (default: every table)")
    execs.add_argument(
        "--source",
        choices=["auto", "history", "logs"],
        default="auto",
        help="history: ListExecutions/GetExecutionHistory; logs: CloudWatch Logs (Express on AWS)",
    )
    execs.add_argument("--since", default="24h", help="how far back the logs source looks (default: 24h)")
    execs.add_argument("--json", action="store_true", help="machine-readable output")
    execs.set_defaults(handler=cmd_executions)

    redrive = commands.add_parser("redrive", help="start new executions for what is in the dead-letter queues")
    _add_stack_arguments(redrive)
    redrive.add_argument("--dry-run", action="store_true", help="show what would be redriven, grouped; change nothing")
    redrive.add_argument("--max", type=_positive, metavar="N", help="handle at most N messages")
    redrive.add_argument("--error", metavar="NAME", help="only messages with this error (e.g. S3.S3Exception)")
    redrive.add_argument(
        "--table", metavar="T", help="only this source table's: its stream-failures queue and its letters in the pipeline DLQ"
    )
    redrive.add_argument("--wait", action="store_true", help="follow the new executions and report their outcome")
    redrive.add_argument("--max-attempts", type=_positive, default=5, help="leave messages that failed this often (default: 5)")
    redrive.add_argument(
        "--visibility-timeout",
        type=_visibility,
        default=SCAN_VISIBILITY_SECONDS,
        metavar="SECONDS",
        help=f"hide each message this long while it is worked on; after a crash it returns then "
        f"(default: {SCAN_VISIBILITY_SECONDS})",
    )
    redrive.add_argument("--json", action="store_true", help="machine-readable summary")
    redrive.set_defaults(handler=cmd_redrive)

    sql = commands.add_parser("query", help="SQL over the archived changes (DuckDB, on this machine): the view `changes`")
    _add_stack_arguments(sql)
    sql.add_argument("sql", nargs="?", help='SQL, e.g. "SELECT eventName, count(*) FROM changes GROUP BY 1", or a named query')
    sql.add_argument("--list", action="store_true", help="list the named queries and the parameters each takes")
    sql.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a $NAME in the SQL (repeatable)")
    sql.add_argument("--from", dest="start", metavar="TIME", help="ISO 8601 (default: the archive's beginning)")
    sql.add_argument("--to", dest="end", metavar="TIME", help="ISO 8601 (default: now)")
    sql.add_argument("--table", metavar="T", help="only this source table (default: every table the stack audits)")
    form = sql.add_mutually_exclusive_group()
    form.add_argument("--json", dest="format", action="store_const", const="json", help="JSON Lines, a row per line")
    form.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV with a header")
    sql.set_defaults(handler=cmd_query, format="table")

    replay = commands.add_parser("replay", help="re-run archived changes through the pipeline, or print them")
    _add_stack_arguments(replay)
    replay.add_argument("--from", dest="start", required=True, metavar="TIME", help="ISO 8601, e.g. 2026-11-22T10:00Z")
    replay.add_argument("--to", dest="end", metavar="TIME", help="ISO 8601 (default: now)")
    replay.add_argument("--table", metavar="T", help="only this source table (default: every table the stack audits)")
    replay.add_argument("--key", metavar="K", help="only this item (its itemKey)")
    replay.add_argument("--stdout", action="store_true", help="print the archived changes as JSON Lines instead")
    replay.set_defaults(handler=cmd_replay)

    restore = commands.add_parser("restore", help="put an item back as it was (e.g. a deleted item)")
    _add_stack_arguments(restore)
    restore.add_argument("--key", required=True, metavar="K", help="the item's itemKey (hash|range for composite keys)")
    restore.add_argument("--table", metavar="T", help="the item's table (needed when the key is in several audited tables)")
    restore.add_argument("--at", metavar="TIME", help="as it was at this ISO 8601 time (default: its last state)")
    restore.add_argument("--dry-run", action="store_true", help="show the item, write nothing")
    restore.set_defaults(handler=cmd_restore)

    check = commands.add_parser(
        "verify",
        help="compare every Audit row (and --source tables) with the whole archive; "
        "exit 0 clean, 1 findings, 2 user error, 3 could not verify",
    )
    _add_stack_arguments(check)
    check.add_argument("--from", dest="start", metavar="TIME", help="ISO 8601 (default: the archive's beginning)")
    check.add_argument("--to", dest="end", metavar="TIME", help="ISO 8601 (default: now)")
    check.add_argument("--table", help="only this source table (default: every table of the stack and its archive)")
    check.add_argument(
        "--source", action="store_true", help="also compare each source item with its newest archived image (a full Scan)"
    )
    check.add_argument(
        "--allow-pending",
        action="store_true",
        help="exit 0 when the only findings are rows of changes waiting in a dead-letter queue (pending, not forged)",
    )
    check.add_argument("--json", action="store_true", help="the report as JSON, for scripts")
    check.set_defaults(handler=cmd_verify)

    cost = commands.add_parser("cost", help="requests per change and $ per million changes, measured on the embedded AWS")
    cost.add_argument("--stack", default="dev", help="stack whose settings are measured (default: dev)")
    cost.add_argument("--changes", type=int, default=1000, help="synthetic changes to run (default: 1000)")
    cost.add_argument("--item-size", type=int, default=1024, metavar="BYTES", help="item size (default: 1024)")
    cost.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a stack setting for the measurement, e.g. notifications.mode=off or workflow.logLevel=ERROR (repeatable)",
    )
    cost.add_argument("--json", action="store_true", help="machine-readable result")
    cost.set_defaults(handler=cmd_cost)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (
        ConfigError,
        StackConfigError,
        OutputsError,
        PortInUseError,
        NoSuchExecutionError,
        ArgumentTypeError,
        RestoreError,
        KeyInSeveralTablesError,
    ) as error:
        print(f"changetrail: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"changetrail: AWS said: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
