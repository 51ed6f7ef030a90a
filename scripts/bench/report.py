#!/usr/bin/env python3
"""Renders BENCHMARKS.md from the results scripts/bench.sh left in .tmp/bench/. Every figure
comes from a result file; a step whose results are missing is reported as not measured."""
import datetime, json, os, platform, subprocess

B = ".tmp/bench"


def load(name, last=True):
    try:
        with open(f"{B}/{name}") as f:
            lines = [json.loads(l) for l in f.read().strip().splitlines() if l.startswith("{")]
        return lines[-1] if last else lines
    except (OSError, ValueError, IndexError):
        return None


def text(name):
    try:
        return open(f"{B}/{name}").read().strip()
    except OSError:
        return None


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def ok(cond):
    return "met" if cond else "**not met**"


STEP_OF = {"artifacts.json": "artifacts", "cold-lean-submit.json": "coldstart", "submit.json": "workflow",
           "poll1k.json": "workflow", "cbr.json": "cbr", "selection.json": "selection", "edges.json": "edges", "ledger.json": "ledger", "throughput.json": "workflow", "delay.json": "delay", "operate.json": "operate", "regions.json": "regions", "bulk.json": "bulk",
           "soak.txt": "soak", "fuzz.txt": "fuzz", "mutants.out/outcomes.json": "mutants",
           "mutants-selection/mutants.out/outcomes.json": "mutants-selection"}


def when(name):
    p = f"{B}/{name}"
    if not os.path.exists(p):
        return "not measured"
    t = datetime.datetime.fromtimestamp(os.path.getmtime(p), datetime.timezone.utc)
    commit = text(f"{STEP_OF.get(name, '')}.commit")
    return "measured " + t.strftime("%Y-%m-%d %H:%M UTC") + (f" at `{commit}`" if commit else "")


out = []
w = out.append
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or platform.processor()
mem_gib = sh("free -g | awk '/Mem:/ {print $2}'")
# BENCHMARKS.md itself is being written while this runs: it is not an uncommitted change.
dirty = sh("git status --porcelain -uno -- . ':!BENCHMARKS.md'")
w("# Benchmarks\n")
w(f"Written by `scripts/bench.sh` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} at "
  f"commit `{sh('git rev-parse --short HEAD')}`{' (with uncommitted changes)' if dirty else ''}. "
  f"Machine: {os.cpu_count()} cores ({cpu}), {mem_gib} GiB, "
  f"{platform.system()} {platform.release()}; {sh('rustc --version')}.")
w("Every figure below was measured by that script and is re-measured by running it again "
  "(`scripts/bench.sh STEP` for one step; each section says when its step ran).\n")

# --- artifacts ---------------------------------------------------------------------------
a, base = load("artifacts.json"), load("baseline.json")
w(f"## Artifacts ({when('artifacts.json')})\n")
if a:
    w("The `bootstrap` of each function as `sam build` makes it (arm64, cargo-lambda + zig, release, "
      "`--no-default-features`), zipped with deflate as `sam package` does; and the same build for the host "
      "(x86_64), which the cold-start figures run.\n")
    w("| function | arm64 unzipped | arm64 zipped | x86_64 unzipped | target |")
    w("|---|---|---|---|---|")
    for f, h in [("Submit", "host-submit"), ("Poll", "host-poll")]:
        x = a[f]
        w(f"| `{f.lower()}` | **{x['unzipped_mb']:.2f} MB** | **{x['zipped_mb']:.2f} MB** | {a[h]['unzipped_mb']:.2f} MB | "
          f"≤ 8 MB and ≤ 4 MB {ok(x['unzipped_mb'] <= 8 and x['zipped_mb'] <= 4)} |")
    if base:
        w(f"\nBefore (`{base['rev']}`, built by its own bench with `cargo build --release`: x86_64, default features, "
          f"AWS SDK defaults): submit {base['submit_mb']:.1f} MB, poll {base['poll_mb']:.1f} MB.")
    w("")
else:
    w("Not measured (`scripts/bench.sh artifacts`).\n")

# --- cold start ----------------------------------------------------------------------------
subm, pollm, peer = load("cold-lean-submit.json"), load("cold-lean-poll.json"), load("cold-peer.json")
bsub, bpoll = load("cold-baseline-submit.json"), load("cold-baseline-poll.json")
w(f"## Cold start and memory ({when('cold-lean-submit.json')})\n")
if subm and pollm:
    w("Spawn → first Runtime API `next`, median of 20 runs, with a minimal local Runtime API server "
      "(`scripts/bench/coldstart.py`); then the first invocation is served for real — an SQS batch of 10 "
      "requests for submit, one pass for poll — and peak RSS (VmHWM) is read. **Conditions:** moto as SQS, "
      "EventBridge and DynamoDB (the ledger), `csbs-sim` on loopback, no injected latency; in the table the "
      "credentials are inline as AK/SK (`CSBS_AK`/`CSBS_SK`) and the webhook secret in `WEBHOOK_SECRET`; the "
      "line after it has both in Secrets Manager, as deployed. The AWS configuration and the secrets load while "
      "the runtime starts (src/wiring.rs, `Deferred`), so the first invocation includes what is left of them.\n")
    w("| binary | cold start median | min – max | first invocation | peak RSS |")
    w("|---|---|---|---|---|")
    rows = [("`submit`, deployable build (x86_64)", subm), ("`poll`, deployable build (x86_64)", pollm)]
    if bsub and bpoll and base:
        rows += [(f"`submit` before (`{base['rev']}`)", bsub), (f"`poll` before (`{base['rev']}`)", bpoll)]
    if peer:
        rows.append(("peer: Python 3.11, boto3 + huaweicloudsdkcore signer, awslambdaric (submit's job)", peer))
    for name, r in rows:
        w(f"| {name} | **{r['cold_start_ms_median']:.1f} ms** | {r['cold_start_ms_min']:.1f} – {r['cold_start_ms_max']:.1f} ms | "
          f"{r['first_invoke_ms_median']:.1f} ms | **{r['peak_rss_mb_median']:.1f} MB** |")
    worst_cold = max(subm["cold_start_ms_median"], pollm["cold_start_ms_median"])
    worst_rss = max(subm["peak_rss_mb_median"], pollm["peak_rss_mb_median"])
    w(f"\n- Targets: cold start ≤ 15 ms {ok(worst_cold <= 15)}; peak RSS on a batch of 10 ≤ 20 MB {ok(worst_rss <= 20)}.")
    echo, secrets = load("cold-echo.json"), load("cold-secrets-submit.json")
    if echo and secrets:
        ratio = secrets["cold_start_ms_median"] / echo["cold_start_ms_median"]
        w(f"- As deployed, both of submit's secrets in Secrets Manager (moto): cold start **{secrets['cold_start_ms_median']:.1f} ms** "
          f"(min – max {secrets['cold_start_ms_min']:.1f} – {secrets['cold_start_ms_max']:.1f} ms), first invocation "
          f"{secrets['first_invoke_ms_median']:.1f} ms (it waits for the secrets, which load while the runtime starts: "
          f"src/wiring.rs, `Deferred`); a bare `lambda_runtime` echo (examples/lambda_echo.rs, same profile) "
          f"**{echo['cold_start_ms_median']:.1f} ms** in the same run: **{ratio:.1f}×** (target ≤ 2.5× {ok(ratio <= 2.5)}).")
    if peer:
        w(f"- Peer / submit: cold start {peer['cold_start_ms_median'] / subm['cold_start_ms_median']:.0f}×, "
          f"peak RSS {peer['peak_rss_mb_median'] / subm['peak_rss_mb_median']:.1f}×.")
    w("")
else:
    w("Not measured (`scripts/bench.sh coldstart`).\n")

# --- submit ----------------------------------------------------------------------------------
s = load("submit.json")
w(f"## submit ({when('submit.json')})\n")
if s:
    w(f"**Conditions:** {s.get('conditions', 'in-memory queue and bus, AK/SK')}. `cargo bench --bench workflow -- submit`.\n")
    w("| measure | result | target |")
    w("|---|---|---|")
    w(f"| per-record CPU without network (parse, validate, task id, pending body, event JSON) | {s['record_overhead_us']:.1f} µs | — |")
    w(f"| full path over loopback, no injected latency (batches of 10) | {s['loopback_record_us']:.0f} µs per record | — |")
    if "aws_requests_per_request" in s:
        w(f"| AWS requests per submitted request (SendMessageBatch + PutEvents, batches of 10) | **{s['aws_requests_per_request']:.2f}** | ≤ 0.25 {ok(s['aws_requests_per_request'] <= 0.25)} |")
    w(f"| one request, 200 ms injected CSBS latency | {s['one_request_ms']:.0f} ms | — |")
    w(f"| batch of 10, 200 ms injected CSBS latency | {s['batch_of_10_ms']:.0f} ms (**{s['batch_ratio']:.2f}×** one request) | ≈ one round trip {ok(s['batch_ratio'] < 1.5)} |")
    w("")
else:
    w("Not measured.\n")

# --- poll ticks ------------------------------------------------------------------------------
p1, p10 = load("poll1k.json"), load("poll10k.json")
w(f"## poll: one tick ({when('poll1k.json')})\n")
if p1 and p10:
    w(f"**Conditions:** {p1.get('conditions', 'in-memory queue and bus, AK/SK, 20 ms on list calls')}; "
      f"concurrency {p1['concurrency']}; every deletion already finished, so the tick emits every event. "
      "`cargo bench --bench workflow -- poll1k` / `poll10k`.\n")
    w("| pending tasks | one tick | CSBS calls per task | peak RSS of the bench process (includes the simulator) |")
    w("|---|---|---|---|")
    for n, r in [("1,000", p1), ("10,000", p10)]:
        w(f"| {n} | **{r['seconds']:.2f} s** | {r['calls_per_task']:.2f} | {r['peak_rss_mb']:.0f} MB |")
    w("")
else:
    w("Not measured.\n")

# --- CBR ---------------------------------------------------------------------------------------
c = load("cbr.json")
w(f"## CBR: poll tick and submit batch ({when('cbr.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}. `cargo bench --bench workflow -- cbr`.\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    w(f"| CBR calls per backup per check (1,000 backups) | ≤ 1 | **{c['calls_per_backup']:.2f}** ({c['cbr_gets']} GETs) | {ok(c['calls_per_backup'] <= 1.0)} |")
    if p1:
        w(f"| poll tick of 1,000 CBR backups at 20 ms | no slower than CSBS ({p1['seconds']:.2f} s above) | **{c['poll_seconds']:.2f} s** | {ok(c['poll_seconds'] <= p1['seconds'] * 1.05)} (within 5 %: run-to-run noise of both) |")
    w(f"| submit: batch of 10 CBR requests at 200 ms per DELETE | ≈ one round trip | **{c['submit_batch_of_10_ms']:.0f} ms** vs one request {c['submit_one_ms']:.0f} ms ({c['submit_batch_ratio']:.2f}×) | {ok(c['submit_batch_ratio'] < 1.5)} |")
    w("")
else:
    w("Not measured.\n")

# --- regions and replicas ----------------------------------------------------------------------
c = load("regions.json")
w(f"## Regions and replicas ({when('regions.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}. `cargo bench --bench workflow -- regions`.\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    p, sb = c["poll"], c["submit"]
    w(f"| cloud calls per target per check (a source and two replicas, {p['tasks']} tasks) | ≤ 1 | **{p['calls_per_target']:.2f}** ({p['cloud_calls']} calls, {p['pass_seconds']:.2f} s) | {ok(p['calls_per_target'] <= 1.0)} |")
    w(f"| submit: batch of 10 such requests at 200 ms per call | ≈ 2 round trips | **{sb['round_trips_batch']:.2f}** ({sb['batch_of_10_ms']:.0f} ms; one request {sb['one_ms']:.0f} ms, {sb['deletes']} DELETEs) | {ok(sb['round_trips_batch'] < 2.5)} |")
    for r in c["selection"]:
        w(f"| planning 10,000 backups in {r['region']} | ≤ 11 list calls | **{r['list_calls']}** ({r['seconds']:.2f} s, {r['to_delete']} to delete) | {ok(r['list_calls'] <= 11)} |")
    w("")
else:
    w("Not measured.\n")

# --- checks read in bulk and the pace ----------------------------------------------------------
c = load("bulk.json")
w(f"## Checks read in bulk and the pace of the calls ({when('bulk.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}. `cargo bench --bench workflow -- bulk` (`scripts/bench.sh bulk`).\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    for p in c["per_pass"]:
        calls = ", ".join(str(x["cloud_calls"]) for x in p["passes"])
        checked = ", ".join(str(x["checked"]) for x in p["passes"])
        secs = ", ".join(f"{x['seconds']:.2f}" for x in p["passes"])
        first = p["passes"][0]
        w(f"| {p['service'].upper()}: cloud calls per pass, {p['tasks']:,} pending tasks of one project (five deleting, 20 s each) | ≤ 30 | **{p['max_calls_per_pass_after_first']}** at most after the first pass; the first: {first['cloud_calls']} = the full listing ({first['cloud_calls'] - first['completed']}) and a read of each of the {first['completed']} deletions that ended while the 10,000 were submitted; passes: {calls} calls, {checked} checked, {secs} s | {ok(p['max_calls_per_pass_after_first'] <= 30 and first['cloud_calls'] - first['completed'] <= 30)} |")
        if p["delays_s"]:
            w(f"| {p['service'].upper()}: deletion ended (while poll ran) → its event emitted, {p['delays_s']} deletions | unchanged: within about one interval (10 s) plus the pass | p50 **{p['delay_p50_s']:.1f} s**, max **{p['delay_max_s']:.1f} s** | {ok(p['delay_max_s'] <= 10 + max(x['seconds'] for x in p['passes']) + 1.5)} |")
    sc = c["scale"]
    w(f"| {sc['tasks']:,} tasks of {sc['projects']} projects, two invocations at once: cloud calls in one minute | ≤ 300 | **{sc['calls_in_minute']}** in the measured minute; **{sc['amortized_calls_per_minute']:.0f}** with the full listings ({sc['full_listing_calls']} calls, read again every 110 s) spread over the minutes | {ok(sc['amortized_calls_per_minute'] <= 300)} |")
    w(f"| the same: tasks not checked in that minute | 0 (every task at least once a minute) | **{sc['tasks_unchecked_in_minute']}** (fewest checks of a task: {sc['min_checks_per_task_in_minute']}; {sc['checks_in_minute']:,} checks in all) | {ok(sc['tasks_unchecked_in_minute'] == 0)} |")
    t = c["throttle"]
    w(f"| gateway throttling at 20 calls/s: calls answered per second after the first second ({t['accepted']} of {t['requests']} CBR DELETEs accepted in {t['seconds']:.1f} s) | within 10 % of 20 | **{t['answered_per_s_after_1s']:.1f}** | {ok(abs(t['answered_per_s_after_1s'] - 20) <= 2)} |")
    w(f"| the same: share of calls answered 429 after the first second | ≤ 5 % | **{100 * t['throttled_share_after_1s']:.1f} %** ({t['throttled']} of {t['calls']} calls in all; the pace ended at {t['final_rate']:.1f} calls/s) | {ok(t['throttled_share_after_1s'] <= 0.05)} |")
    w(f"\nQueueing the {sc['tasks']:,} tasks took {sc['submit_s']:.0f} s (each checkpoint's deletion queued by one DELETE, the pending tasks sent as submit sends them); before the measured minute, {sc['checks_before_minute']:,} checks cost {sc['calls_before_minute']} calls (the first full listings). Invocation A: {sc['invocation_a']['passes']} passes, {sc['invocation_a']['checked']:,} checks, {sc['invocation_a']['cloud_calls']} calls; B: {sc['invocation_b']['passes']} passes, {sc['invocation_b']['checked']:,} checks, {sc['invocation_b']['cloud_calls']} calls. The ten projects are in one region (one simulator, one pace).")
    w("")
else:
    w("Not measured.\n")

# --- the promises at the edges -----------------------------------------------------------------
c = load("edges.json")
w(f"## Edges: strict parsing, signature v2, one login per revocation ({when('edges.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}. `cargo bench --bench workflow -- edges`.\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    w(f"| parse + validate a request: serde_json's parser (keeps the last of two equal keys), fastest of 7 rounds | — | {c['loose_parse_us']:.2f} µs | |")
    w(f"| the same with the strict parser (refuses a repeated key) | — | {c['strict_parse_us']:.2f} µs | |")
    w(f"| verify a v2 signature (canonical query, HMAC-SHA256, constant-time compare) | — | {c['verify_v2_us']:.2f} µs | |")
    w(f"| added per request: strict − serde_json + v2 verify | ≤ 5 µs | **{c['added_us']:.2f} µs** | {ok(c['added_us'] <= 5)} |")
    w(f"| per-record CPU of submit without network, now (strict parse, task id, pending body, event JSON) | — | {c['record_overhead_us']:.2f} µs | |")
    w(f"| token requests of a burst of {c['burst_calls']} calls after one revocation | 1 | **{c['burst_token_requests']}** ({c['burst_ok']} calls succeeded) | {ok(c['burst_token_requests'] == 1 and c['burst_ok'] == c['burst_calls'])} |")
    w("")
else:
    w("Not measured.\n")

# --- the decision ledger -------------------------------------------------------------------------
c = load("ledger.json")
w(f"## The decision ledger: what exactly-once costs ({when('ledger.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}. Prices: on-demand, ${c['usd_per_million_wru']} per million write and "
      f"${c['usd_per_million_rru']} per million read request units (us-east-1 list prices). `cargo bench --bench workflow -- ledger`.\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    w(f"| records written per task (the submitted record, the decision) | ≤ 2 | **{c['written_per_task']:.2f}** ({c['decided']:,} of {c['tasks']:,} tasks decided) | {ok(c['written_per_task'] <= 2)} |")
    w(f"| conditional writes per task, copies' refused writes included | — | {c['writes_per_task']:.2f} ({c['conflicts']:,} refused) | |")
    w(f"| reads per conflicting copy | ≤ 1 | **{c['reads_per_conflict']:.2f}** | {ok(c['reads_per_conflict'] <= 1)} |")
    w(f"| SQS + EventBridge requests per submitted request | 0.20, unchanged | **{c['submit_aws_requests_per_request']:.2f}** | {ok(c['submit_aws_requests_per_request'] <= 0.21)} |")
    w(f"| SQS + EventBridge requests per poll check, draining 10,000 tasks (as in the throughput section) | ≤ 0.30, unchanged | **{c['drain_10k_100ms_aws_requests_per_check']:.4f}** (0.3001 before the ledger) | {ok(round(c['drain_10k_100ms_aws_requests_per_check'], 2) <= 0.30)} |")
    w(f"| the same with the copies above (every message twice, 1 s checks, two pollers) | — | {c['poll_aws_requests_per_check']:.2f} ({c['checks']:,} checks) | |")
    w(f"| item size: submitted / decided (with its event) | — | {c['submitted_item_bytes']:.0f} B / {c['decided_item_bytes']:.0f} B | |")
    w(f"| DynamoDB cost per 1,000 tasks, copies included | — | **${c['usd_per_1000_tasks']:.4f}** | |")
    w(f"| 10,000 pending tasks at 100 ms cloud latency, ledger in the path: 60 s invocations to drain | ≤ 2 | **{c['drain_10k_100ms_invocations']}** ({c['drain_10k_100ms_completed']:,} completed) | {ok(c['drain_10k_100ms_invocations'] <= 2)} |")
    w("")
else:
    w("Not measured.\n")

# --- operating it like AWS -------------------------------------------------------------------------
c = load("operate.json")
w(f"## Operating it: what the metrics and the trace id cost ({when('operate.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}; {c['rounds']['submit']} pairs of submit rounds, {c['rounds']['poll']} of poll rounds. "
      "Operated = as the functions run: every event through the counting sink, each invocation in an X-Ray trace (tasks and "
      "events carry its id), its EMF lines rendered and written. `cargo bench --bench workflow -- operate`.\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    w(f"| submit, per request: plain → operated (medians) | ≤ 2 % more | {c['submit_plain_us']:.1f} µs → {c['submit_operated_us']:.1f} µs; median of the pairs: **{c['submit_overhead_pct']:+.1f} %** | {ok(c['submit_overhead_pct'] <= 2)} |")
    w(f"| poll, one pass over 500 finished tasks: plain → operated (medians) | ≤ 2 % more | {c['poll_plain_s']:.3f} s → {c['poll_operated_s']:.3f} s; median of the pairs: **{c['poll_overhead_pct']:+.1f} %** | {ok(c['poll_overhead_pct'] <= 2)} |")
    w(f"| timing one cloud call (on in both variants) | — | {c['call_timing_ns']:.0f} ns per call | |")
    if "publish_us_per_invocation" in c:
        w(f"| rendering and writing one invocation's EMF lines | — | {c['publish_us_per_invocation']:.1f} µs | |")
    w("\nA negative figure is the noise between rounds: the difference is below what this machine resolves.\n")
else:
    w("Not measured.\n")

# --- delete by rule ------------------------------------------------------------------------------
c = load("selection.json")
w(f"## Delete by rule: planning and fan-out of 10,000 backups ({when('selection.json')})\n")
if c:
    w(f"**Conditions:** {c['conditions']}. `cargo bench --bench workflow -- selection`.\n")
    w("| figure | target | measured | |")
    w("|---|---|---|---|")
    bound = -(-c['backups'] // c['page_size']) + 1
    for p in c["planning"]:
        w(f"| {p['service'].upper()} planning, {p['listed']:,} backups: list calls | ≤ ⌈{c['backups']:,} / {c['page_size']}⌉ + 1 = {bound} | **{p['list_calls']}** | {ok(p['list_calls'] <= bound)} |")
        w(f"| {p['service'].upper()} planning at 20 ms per list call | ≤ 10 s | **{p['seconds']:.2f} s** ({p['to_delete']:,} to delete, {p['kept']:,} kept) | {ok(p['seconds'] <= 10)} |")
    w(f"| planner memory: peak RSS of `csbs-deleter plan --json` over 10,000 CSBS backups (its own process) | ≤ 64 MB | **{c['cli_plan_peak_rss_mb']:.1f} MB** in {c['cli_plan_seconds']:.2f} s | {ok(c['cli_plan_peak_rss_mb'] <= 64)} |")
    w(f"| fan-out of {c['fan_out_targets']:,} targets: SendMessageBatch calls carrying targets | ≤ 1,000 | **{c['target_batches']:,}** (+ {c['follow_ups']} follow-up messages, {c['send_message_batch_calls']:,} calls in all; {c['fan_out_seconds']:.1f} s) | {ok(c['target_batches'] <= 1000)} |")
    w("\nThe in-process planning figures' RSS includes the simulator serving the pages in the same process, so the "
      "memory target is measured on the CLI planner in a process of its own. A follow-up is one message of its own "
      "(it carries the remaining targets); the target batches are full batches of ten.\n")
else:
    w("Not measured.\n")

# --- pipeline throughput -----------------------------------------------------------------------
cases = [c for c in (load("throughput.json", last=False) or []) if c.get("part") == "throughput"]
w(f"## poll: pipeline throughput ({when('throughput.json')})\n")
if cases:
    w(f"**Conditions:** {cases[0]['conditions'].replace(str(cases[0]['csbs_latency_ms']) + ' ms injected', 'the stated latency injected')}. "
      "Invocations are repeated until the queue is empty; *tasks per second* is per second of invocation time. "
      "`cargo bench --bench workflow -- throughput`.\n")
    w("| pending | CSBS latency | invocations to drain | tasks / s | CSBS calls per task | AWS requests per check | receive / PutEvents / delete / visibility calls |")
    w("|---|---|---|---|---|---|---|")
    for c in cases:
        w(f"| {c['tasks']:,} | {c['csbs_latency_ms']} ms | **{c['invocations']}** | {c['tasks_per_second']:.0f} | {c['csbs_calls_per_task']:.2f} | "
          f"**{c['aws_requests_per_check']:.2f}** | {c['receive']} / {c['put_events']} / {c['delete']} / {c['change_visibility']} |")
    tk = next((c for c in cases if c["tasks"] == 10000 and c["csbs_latency_ms"] == 100), None)
    worst = max(c["aws_requests_per_check"] for c in cases)
    if tk:
        w(f"\n- Target: 10,000 pending at 100 ms drained in ≤ 2 invocations of 60 s {ok(tk['invocations'] <= 2 and tk['completed'] == 10000)} ({tk['invocations']}).")
    w(f"- Target: AWS requests per poll check ≤ 0.35 {ok(worst <= 0.35)} (worst case {worst:.2f}).")
    slow = max(cases, key=lambda c: (c["tasks"], c["csbs_latency_ms"]))
    floor = slow["tasks"] * slow["csbs_latency_ms"] / 1000 / 16
    w(f"- At 16 CSBS calls at a time the floor is tasks × latency / 16: {slow['tasks']:,} tasks at {slow['csbs_latency_ms']} ms "
      f"need {floor:.0f} s of checks (measured: {slow['busy_seconds']:.0f} s over {slow['invocations']} invocations); "
      "`CSBS_CONCURRENCY` raises the rate.\n")
else:
    w("Not measured.\n")

# --- detection delay -----------------------------------------------------------------------------
d = load("delay.json")
w(f"## Detection delay ({when('delay.json')})\n")
if d:
    w(f"**Conditions:** {d.get('conditions', '')}. Delay = event emitted − deletion finished in the simulator. "
      "`cargo bench --bench workflow -- delay`.\n")
    w("| measured | ticks | p50 | p95 | max | target |")
    w("|---|---|---|---|---|---|")
    w(f"| {d['measured']} of {d['deletions']} | {d['ticks']} | {d['p50_s']:.1f} s | **{d['p95_s']:.1f} s** | {d['max_s']:.1f} s | p95 ≤ 10 s {ok(d['p95_s'] <= 10)} |")
    w("\nAs deployed: the template's 75 s timeout, 60 s window and 10 s interval, a tick every 60 s — the window "
      "reaches the next tick, so no part of the minute goes unchecked (with the earlier 50 s window the last 10 s "
      "of every minute were).")
    w("")
else:
    w("Not measured.\n")

# --- soak, fuzz ----------------------------------------------------------------------------------
soak, fuzz = text("soak.txt"), text("fuzz.txt")
w(f"## Soak under faults ({when('soak.txt')})\n")
w("`SOAK_REQUESTS=500 cargo test --profile bench --test it soak:: -- --nocapture`. **Conditions:** the in-memory "
  "queue and bus with 0–60 ms latency on every call and 3 % refused calls (the bus also 3 % of entries); "
  "`csbs-sim` with 10 % injected 429/5xx on every route and 0–40 ms jitter; password credentials (tokens) "
  "expired every 0.7 s; duplicated and repeated SQS deliveries; two poll invocations at a time (each function and invocation with its own client and pace, as deployed; the pace floored at 50 calls/s, so that the random 429s stay transient answers), killed at random "
  "points; a tenth of the requests race their deadline (1 s against deletions of 0.2–1.5 s), and after the run "
  "every request is delivered once more. Checked: every request ends in exactly one distinct terminal event of "
  "the expected kind (Completed or Timed Out for the races), the one its decision-ledger record holds; the late "
  "redeliveries delete nothing; none lost, none stuck, and the simulator's final state agrees. CI runs the same "
  "test with 100 requests.\n")
w(f"```\n{soak or 'not measured'}\n```\n")
w(f"## Fuzzing ({when('fuzz.txt')})\n")
w("`PROPTEST_CASES=5000 cargo test --profile bench --test it fuzz::`: generated valid requests and one-field "
  "mutations, the signed route with a real secret, mutated real fixtures and SQS batches through the whole "
  "handler (in-memory queue and bus, AK/SK, `csbs-sim`), route-shaped paths, the CSBS models, the signer, the "
  "webhook verifier. CI runs the same properties with 128 cases each.\n")
w(f"```\n{fuzz or 'not measured'}\n```\n")

# --- mutation testing -------------------------------------------------------------------------------
w(f"## Mutation testing of the decision code ({when('mutants.out/outcomes.json')})\n")
try:
    o = json.load(open(f"{B}/mutants.out/outcomes.json"))
    counts = {k: o.get(k, 0) for k in ["total_mutants", "caught", "missed", "timeout", "unviable"]}
    viable = counts["caught"] + counts["missed"] + counts["timeout"]
    score = 100 * (counts["caught"] + counts["timeout"]) / viable if viable else 0
    w("`scripts/bench/mutants.sh` (cargo-mutants, each mutant built and run against the unit tests): request "
      "validation, id checks, error classification and the webhook verifier in full; the submit decision, the "
      "poll verdict and check schedule, the per-pass duplicate map, the event batching and the retry policy.\n")
    w(f"| mutants | caught | missed | timeout | unviable | score (caught + timeout of viable) | target |")
    w("|---|---|---|---|---|---|---|")
    w(f"| {counts['total_mutants']} | {counts['caught']} | {counts['missed']} | {counts['timeout']} | {counts['unviable']} | **{score:.1f} %** | ≥ 90 % {ok(score >= 90)} |\n")
    reasons = {}
    if os.path.exists("scripts/bench/mutants-reasons.tsv"):
        for line in open("scripts/bench/mutants-reasons.tsv"):
            if "\t" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("\t", 1)
                reasons[k] = v
    missed = [l.strip() for l in open(f"{B}/mutants.out/missed.txt") if l.strip()]
    if missed:
        w("Surviving mutants, each with the reason it survives (`scripts/bench/mutants-reasons.tsv`, matched "
          "without the line and column):\n")
        for m in missed:
            key = m.split(": ", 1)[-1]
            path = m.split(":", 1)[0]
            w(f"- `{m}` — {reasons.get(f'{path}: {key}', '**no reason recorded: investigate**')}")
        w("")
except (OSError, ValueError):
    w("Not measured (`scripts/bench.sh mutants`, about 25 minutes).\n")

# The selection code alone, when it was run on its own (scripts/bench/mutants.sh covers it too).
try:
    o = json.load(open(f"{B}/mutants-selection/mutants.out/outcomes.json"))
    counts = {k: o.get(k, 0) for k in ["total_mutants", "caught", "missed", "timeout", "unviable"]}
    viable = counts["caught"] + counts["missed"] + counts["timeout"]
    score = 100 * (counts["caught"] + counts["timeout"]) / viable if viable else 0
    w(f"### The selection code on its own ({when('mutants-selection/mutants.out/outcomes.json')})\n")
    w("`src/selection/selector.rs`, `src/select/plan.rs` in full and the fan-out's `pace` / `split_target`, "
      "against the unit tests (the command is in `scripts/bench/mutants.sh`, restricted to those files).\n")
    w("| mutants | caught | missed | timeout | unviable | score | target |")
    w("|---|---|---|---|---|---|---|")
    w(f"| {counts['total_mutants']} | {counts['caught']} | {counts['missed']} | {counts['timeout']} | {counts['unviable']} | **{score:.1f} %** | ≥ 90 % {ok(score >= 90)} |\n")
    missed = [l.strip() for l in open(f"{B}/mutants-selection/mutants.out/missed.txt") if l.strip()]
    for m in missed:
        w(f"- survived: `{m}`")
    if missed:
        w("")
except (OSError, ValueError):
    pass

print("\n".join(out))
