"""The console in a real browser: headless Chromium (Debian's package) driving the page of `changetrail local`.

Skipped, with the reason, where ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` are absent
(``.ci/run`` installs both). Nothing leaves the machine: the driver and browser are given by path
(Selenium Manager never runs: ``SE_OFFLINE``), and Chromium runs with its background networking off.

``CHANGETRAIL_SCREENSHOT=docs/console-execution.png`` (``make screenshot``) keeps the execution view's
screenshot where the README shows it; otherwise it goes to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    LocalServer,
    assumed_client,
    clean_environment,
    endpoint_client,
    free_port,
    spawn_changetrail,
    wait_for,
)
from tests.e2e.test_redrive import DENY_WRITES

pytestmark = pytest.mark.e2e
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--window-size=1400,1700",
)  # fmt: skip
ARCHIVE_ADMIN = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
TIMEOUT = 60


def needs_a_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.skip(f"no browser here: {' and '.join(missing)} missing (apt-get install chromium chromium-driver; .ci/run does)")
    pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    needs_a_browser()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: no driver downloads, no statistics
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def aws(outputs: dict, service: str):
    return endpoint_client(outputs["endpoint_url"], service)


def archive_admin(outputs: dict):
    """The archive account's own S3 (its deploy role): what a broken bucket policy is set and mended with."""
    return assumed_client(outputs["endpoint_url"], ARCHIVE_ADMIN, "console-test", "s3")


def queue_depth(outputs: dict) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = aws(outputs, "sqs").get_queue_attributes(QueueUrl=outputs["dlq_url"], AttributeNames=names)["Attributes"]
    return sum(int(found[name]) for name in names)


def statuses(outputs: dict) -> list[str]:
    listed = aws(outputs, "stepfunctions").list_executions(stateMachineArn=outputs["state_machine_arn"])["executions"]
    return sorted(e["status"] for e in listed)


def settled(outputs: dict, count: int) -> list[str] | None:
    """The executions' statuses once there are ``count`` of them and none is running."""
    found = statuses(outputs)
    return found if len(found) == count and "RUNNING" not in found else None


def test_an_operator_finds_the_failure_sees_why_redrives_it_and_reads_an_items_history(browser, local: LocalServer, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    outputs = local.outputs
    wait = WebDriverWait(browser, TIMEOUT)

    def find(selector: str):
        return wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def text_in(selector: str, text: str) -> None:
        wait.until(shown.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))

    # GIVEN one item inserted and then changed (succeeded), and one change failing in the archive account
    ddb, table = aws(outputs, "dynamodb"), outputs["source_table_name"]
    before = len(statuses(outputs))
    ddb.put_item(TableName=table, Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}})
    wait_for(lambda: settled(outputs, before + 1), TIMEOUT, "the first execution")
    ddb.put_item(TableName=table, Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}})
    assert "FAILED" not in wait_for(lambda: settled(outputs, before + 2), TIMEOUT, "the second execution")
    admin, bucket = archive_admin(outputs), outputs["archive_bucket_name"]
    policy = admin.get_bucket_policy(Bucket=bucket)["Policy"]
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps(DENY_WRITES))
    ddb.put_item(TableName=table, Item={"key": {"S": "LATE"}, "value": {"N": "1"}})
    wait_for(lambda: settled(outputs, before + 3) and queue_depth(outputs) == 1, TIMEOUT, "the dead letter")

    # WHEN the operator opens the console printed by `changetrail local`
    browser.get(outputs["console_url"])
    find('#executions-body tr[data-status="SUCCEEDED"]')
    failed = find('#executions-body tr[data-status="FAILED"]')
    assert "in Archive" in failed.text
    name = failed.get_attribute("data-name")

    # THEN the failed execution shows its graph, the failed state marked, and the cause
    failed.find_element(By.CSS_SELECTOR, "a").click()
    marked = find('#graph svg g[data-failed-state="true"]')
    assert marked.get_attribute("data-state") == "Archive"
    assert marked.get_attribute("data-outcome") == "caught"  # caught into the dead-letter path ...
    machine = aws(outputs, "stepfunctions").describe_state_machine(stateMachineArn=outputs["state_machine_arn"])
    fail_states = [n for n, state in json.loads(machine["definition"])["States"].items() if state["Type"] == "Fail"]
    ended = [g.get_attribute("data-state") for g in browser.find_elements(By.CSS_SELECTOR, '#graph svg g[data-outcome="failed"]')]
    assert len(ended) == 1 and ended[0] in fail_states  # ... which ended in a Fail state
    assert browser.find_elements(By.CSS_SELECTOR, '#graph svg g[data-outcome="not_reached"]')
    assert find("#failed-state").text == "Archive"
    assert "Status Code: 403" in find("#failure-cause").text
    assert browser.find_elements(By.CSS_SELECTOR, '#events tr[data-type="TaskFailed"]')
    screenshot = Path(os.environ.get("CHANGETRAIL_SCREENSHOT") or tmp_path / "console-execution.png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

    # AND the dead letter is there, grouped, with its execution and item
    browser.find_element(By.CSS_SELECTOR, 'nav a[data-tab="dead-letters"]').click()
    group = find('.group[data-group$=" in Archive"]')
    assert group.find_element(By.CSS_SELECTOR, ".count").text.startswith("1 ")
    assert name in group.text and "LATE" in group.text

    # WHEN the archive is mended and the operator dry-runs, then confirms, the redrive
    admin.put_bucket_policy(Bucket=bucket, Policy=policy)
    find("#dry-run").click()
    text_in("#would-redrive", "would redrive 1 message(s)")
    assert queue_depth(outputs) == 1, "a dry run changes nothing"
    find("#confirm-redrive").click()
    text_in("#redrive-summary", "redriven 1, succeeded 1, failed again 0, left 0")
    assert queue_depth(outputs) == 0
    text_in("#dead-letter-count", "0 dead letter(s)")

    # AND an item's history reads newest first, old -> new, with the archive line behind a row
    browser.find_element(By.CSS_SELECTOR, 'nav a[data-tab="history"]').click()
    find("#history-key").send_keys("CACHE_TTL_SEC")
    find("#history-search").click()
    wait.until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "tr.history-row")) == 2)
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.history-row")
    assert [row.get_attribute("data-event") for row in rows] == ["MODIFY", "INSERT"]
    assert rows[0].find_element(By.CSS_SELECTOR, ".old-value").text == "3600"
    assert rows[0].find_element(By.CSS_SELECTOR, ".new-value").text == "1800"
    rows[0].find_element(By.CSS_SELECTOR, ".archive-link").click()
    text_in(".archive-uri", f"s3://{bucket}/")

    # AND the page ran without a script error or a blocked request
    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert problems == []


def test_changetrail_console_serves_the_same_page_from_the_outputs_file_alone(local: LocalServer):
    # GIVEN `changetrail local` running, and a shell pointed at it as at any AWS endpoint
    outputs, outputs_file = local.outputs, local.outputs_file
    before = len(statuses(outputs))
    aws(outputs, "dynamodb").put_item(TableName=outputs["source_table_name"], Item={"key": {"S": "CLI"}, "value": {"N": "1"}})
    wait_for(lambda: settled(outputs, before + 1), TIMEOUT, "the execution")
    port = free_port()
    shell = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1"}
    env = {**clean_environment(), **shell, "AWS_ENDPOINT_URL": outputs["endpoint_url"]}
    # WHEN `changetrail console --outputs FILE` serves the page
    process = spawn_changetrail("console", "--outputs", str(outputs_file), "--port", str(port), env=env)

    def get(path: str):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
                return json.loads(response.read())
        except OSError:
            return None

    try:
        # THEN it answers from the same stack the CLI reads
        info = wait_for(lambda: get("/api/info") or process.poll() is not None, TIMEOUT, "the console")
        assert process.poll() is None, process.stdout.read()
        assert info["state_machine_arn"] == outputs["state_machine_arn"]
        listed = get("/api/executions?limit=50")["executions"]
        assert sorted(e["status"] for e in listed) == statuses(outputs)
        assert get("/api/history?key=CLI")["rows"][0]["newText"] == '{"key": "CLI", "value": 1}'
        assert "groups" in get("/api/dead-letters")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
