"""Checks template.yaml as AWS will deploy it: expanded offline by aws-sam-translator (the SAM
transform CloudFormation runs), then each property the stack relies on is asserted, so none can
regress unnoticed. Run by scripts/test.sh with the test venv (cfn-lint brings the translator).

  python tests/py/check_template.py [template.yaml]
"""
import copy
import os
import sys
import tomllib

import yaml
from samtranslator.translator.transform import transform
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader


class OfflinePolicies(ManagedPolicyLoader):
    """The managed policies SAM may name, without asking IAM (the transform runs offline)."""

    def __init__(self):
        pass

    def load(self):
        names = ["AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole", "AWSXrayWriteOnlyAccess"]
        return {n: f"arn:aws:iam::aws:policy/service-role/{n}" for n in names}


def cfn_loader():
    """A YAML loader that keeps CloudFormation's short-form tags (!Ref, !Sub, …) as dicts."""

    class Loader(yaml.SafeLoader):
        pass

    def construct(tag):
        name = "Ref" if tag == "Ref" else f"Fn::{tag}"

        def f(loader, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if tag == "GetAtt" and isinstance(value, str):
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {name: value}

        return f

    for tag in ["Ref", "Sub", "GetAtt", "If", "Equals", "Not", "Join", "Select", "Split", "FindInMap", "Base64", "And", "Or"]:
        Loader.add_constructor(f"!{tag}", construct(tag))
    return Loader


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def main(path):
    # The transform resolves pseudo parameters from the region; nothing is called.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    raw = yaml.load(open(path), Loader=cfn_loader())
    params = {"CsbsEndpoint": "https://csbs.eu-de.otc.t-systems.com", "CbrEndpoint": "https://cbr.eu-de.otc.t-systems.com", "EnableFunctionUrl": "true"}
    # As `sam package` does before CloudFormation's transform: the code is an S3 object.
    packaged = copy.deepcopy(raw)
    for r in packaged["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    out = transform(packaged, params, OfflinePolicies())
    res = out["Resources"]
    of_type = lambda t: {k: v for k, v in res.items() if v["Type"] == t}

    # What ships: the Lambda builds leave the development tools out, and unwind on panic.
    for fn in ["SubmitFunction", "PollFunction"]:
        flags = raw["Resources"][fn]["Metadata"]["BuildProperties"].get("CargoLambdaFlags", [])
        check("--no-default-features" in flags, f"{fn}: built without the dev feature (CargoLambdaFlags)")
    cargo = tomllib.load(open("Cargo.toml", "rb"))
    check(cargo["profile"]["release"].get("panic") == "unwind", "Cargo.toml: [profile.release] panic = \"unwind\"")
    check(cargo["features"]["default"] == ["dev", "cli"] and "dev" in cargo["features"] and "cli" in cargo["features"],
          "Cargo.toml: the dev and cli features, on by default")
    for b in cargo["bin"]:
        if b["name"] in ("csbs-sim", "local-run"):
            check(b.get("required-features") == ["dev"], f"bin {b['name']} requires the dev feature")
        if b["name"] == "csbs-deleter":
            check(b.get("required-features") == ["cli"], "bin csbs-deleter (the operator CLI) requires the cli feature")

    # 1. Function URL: both resource-policy statements (since October 2025).
    perms = [v["Properties"] for v in of_type("AWS::Lambda::Permission").values() if v.get("Condition") == "CreateFunctionUrl"]
    by_auth = lambda signature, iam: {"Fn::If": ["IamHttpAuth", iam, signature]}
    principal = by_auth("*", {"Ref": "AWS::AccountId"})
    check(any(p["Action"] == "lambda:InvokeFunctionUrl" and p.get("FunctionUrlAuthType") == by_auth("NONE", "AWS_IAM") and p["Principal"] == principal for p in perms),
          "Function URL: lambda:InvokeFunctionUrl, auth type NONE (anyone; the signature decides) or AWS_IAM (this account) by HttpAuth")
    check(any(p["Action"] == "lambda:InvokeFunction" and p.get("InvokedViaFunctionUrl") in (True, "true") and p["Principal"] == principal for p in perms),
          "Function URL: lambda:InvokeFunction with InvokedViaFunctionUrl true")
    check(res.get("SubmitFunctionUrl", {}).get("Properties", {}).get("AuthType") == by_auth("NONE", "AWS_IAM"), "Function URL: AuthType follows HttpAuth")

    # 2. The schedule's name is derived from the stack name.
    schedules = of_type("AWS::Scheduler::Schedule")
    check(len(schedules) == 2 and "RetentionRuleSchedule" in schedules, "two EventBridge Scheduler schedules: poll and the optional retention")
    for s in schedules.values():
        name = s["Properties"].get("Name")
        check(isinstance(name, dict) and "AWS::StackName" in str(name), f"schedule name derived from the stack name: {name}")
    poll_schedules = [s for k, s in schedules.items() if k != "RetentionRuleSchedule"]
    check(all(s["Properties"]["ScheduleExpression"] == "rate(1 minute)" for s in poll_schedules), "poll every minute")

    # 3. State is retained: queues and secrets.
    for t in ["AWS::SQS::Queue", "AWS::SecretsManager::Secret"]:
        for k, v in of_type(t).items():
            check(v.get("DeletionPolicy") == "Retain" and v.get("UpdateReplacePolicy") == "Retain", f"{k}: DeletionPolicy and UpdateReplacePolicy Retain")
    check(len(of_type("AWS::SQS::Queue")) == 4, "four queues (intake, pending and their DLQs)")

    # 4. Alarms: Errors of both functions, age of the oldest pending task, each with alarm and OK actions.
    alarms = of_type("AWS::CloudWatch::Alarm")
    def alarm_on(metric, dim_value):
        return [a for a in alarms.values() if a["Properties"].get("MetricName") == metric
                and any(d["Value"] == dim_value for d in a["Properties"].get("Dimensions", []))]
    check(len(alarm_on("Errors", {"Ref": "SubmitFunction"})) == 1, "Errors alarm on submit")
    check(len(alarm_on("Errors", {"Ref": "PollFunction"})) == 1, "Errors alarm on poll")
    age = alarm_on("ApproximateAgeOfOldestMessage", {"Fn::GetAtt": ["PendingQueue", "QueueName"]})
    check(len(age) == 1 and age[0]["Properties"].get("Threshold") == {"Ref": "PendingAgeAlarmSeconds"}, "alarm on the age of the oldest pending task")
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for k, a in alarms.items():
        check(a["Properties"].get("AlarmActions") == topic and a["Properties"].get("OKActions") == topic, f"{k}: alarm and OK actions on AlarmTopicArn")
    param = lambda name: raw.get("Parameters", {}).get(name, {})
    check(param("AlarmTopicArn").get("Default") == "", "AlarmTopicArn optional")

    # 5. Log groups with a retention parameter (default 30 days), used by both functions.
    groups = of_type("AWS::Logs::LogGroup")
    check(len(groups) == 3 and all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values()),
          "three log groups (the functions', the HTTP API's access logs) with RetentionInDays = LogRetentionDays")
    check(param("LogRetentionDays").get("Default") == 30, "log retention defaults to 30 days")
    for fn in ["SubmitFunction", "PollFunction"]:
        lg = res[fn]["Properties"].get("LoggingConfig", {}).get("LogGroup")
        check(isinstance(lg, dict) and lg.get("Ref") in groups, f"{fn} logs to its log group")

    # 6. EventBridge rules and SNS topics of the account may send to the intake queue.
    policies = [p["Properties"] for p in of_type("AWS::SQS::QueuePolicy").values() if {"Ref": "IntakeQueue"} in p["Properties"].get("Queues", [])]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    for service in ["events.amazonaws.com", "sns.amazonaws.com"]:
        check(any(s["Effect"] == "Allow" and s["Principal"] == {"Service": service} and s["Action"] == "sqs:SendMessage"
                  and s["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"} for s in statements),
              f"intake queue policy: {service} of this account may SendMessage")

    # 7. Outputs the README's commands use.
    outputs = out["Outputs"]
    for name in ["ApiUrl", "IntakeQueueUrl", "IntakeQueueArn", "PendingQueueUrl", "IntakeDeadLetterQueueUrl", "IntakeDeadLetterQueueArn",
                 "PendingDeadLetterQueueUrl", "PendingDeadLetterQueueArn", "EventBusName", "EventBusArn", "EventArchiveArn",
                 "CredentialsSecretArn", "WebhookSecretArn", "FunctionUrl"]:
        check(name in outputs, f"output {name}")
    check(outputs.get("EventArchiveArn", {}).get("Value") == {"Fn::GetAtt": ["EventArchive", "Arn"]}, "the archive ARN is the archive's, not the bus's")

    # 8. Both services: either endpoint may be left empty, not both; both reach the functions.
    for name in ["CsbsEndpoint", "CbrEndpoint"]:
        check(param(name).get("Default") == "", f"{name} optional")
    assertions = [a for r in raw.get("Rules", {}).values() for a in r.get("Assertions", [])]
    check(any("CsbsEndpoint" in str(a) and "CbrEndpoint" in str(a) for a in assertions), "a rule requires CsbsEndpoint or CbrEndpoint")
    env = raw["Globals"]["Function"]["Environment"]["Variables"]
    check(env.get("CBR_ENDPOINT") == {"Ref": "CbrEndpoint"} and env.get("CSBS_ENDPOINT") == {"Ref": "CsbsEndpoint"}, "CSBS_ENDPOINT and CBR_ENDPOINT from the parameters")

    # 9. Delete by rule: the submit function fans selections out to the intake queue, whose
    # messages may carry 10,000 targets; the optional retention schedule sends a selection there.
    submit_env = raw["Resources"]["SubmitFunction"]["Properties"]["Environment"]["Variables"]
    check(submit_env.get("INTAKE_QUEUE_URL") == {"Ref": "IntakeQueue"}, "submit: INTAKE_QUEUE_URL is the intake queue")
    submit_policies = raw["Resources"]["SubmitFunction"]["Properties"]["Policies"]
    check({"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["IntakeQueue", "QueueName"]}}} in submit_policies, "submit may send to the intake queue")
    check(raw["Resources"]["IntakeQueue"]["Properties"].get("MaximumMessageSize") == 1048576, "intake messages up to 1 MiB")
    retention = res.get("RetentionRuleSchedule", {})
    check(retention.get("Condition") == "HasRetentionRule" and param("RetentionRuleJson").get("Default") == "", "the retention schedule is optional (RetentionRuleJson)")
    target = retention.get("Properties", {}).get("Target", {})
    check(target.get("Arn") == {"Fn::GetAtt": ["IntakeQueue", "Arn"]}, "the retention schedule sends to the intake queue")
    check("<aws.scheduler.scheduled-time>" in str(target.get("Input")) and "RetentionRuleJson" in str(target.get("Input")),
          "its input is a selection whose reference time is the scheduled time")
    role = res.get("RetentionRuleScheduleRole", {}).get("Properties", {})
    role_statements = [st for p in role.get("Policies", []) for st in p["PolicyDocument"]["Statement"]]
    check(any(st["Action"] == "sqs:SendMessage" and st["Resource"] == {"Fn::GetAtt": ["IntakeQueue", "Arn"]} for st in role_statements),
          "the schedule's role may send to the intake queue only")
    route_resources = of_type("AWS::ApiGatewayV2::Route")
    routes = [r["Properties"]["RouteKey"].split(" ", 1)[1] for r in route_resources.values()]
    check("/v3/{project_id}/backups/{backup_id}" in routes, "HTTP API routes the CBR mirror DELETE")

    # 10. The decision ledger: a retained on-demand table keyed by task_id with a TTL, named to
    # both functions, least-privilege grants, an alarm; poll watches the whole minute.
    table = res.get("LedgerTable", {})
    tp = table.get("Properties", {})
    check(table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain", "LedgerTable: Retain")
    check(tp.get("BillingMode") == "PAY_PER_REQUEST", "LedgerTable: on demand")
    check(tp.get("KeySchema") == [{"AttributeName": "task_id", "KeyType": "HASH"}]
          and {"AttributeName": "task_id", "AttributeType": "S"} in tp.get("AttributeDefinitions", []), "LedgerTable: partition key task_id (S)")
    gsis = tp.get("GlobalSecondaryIndexes", [])
    check(len(gsis) == 1 and gsis[0]["IndexName"] == "by_selection" and gsis[0]["KeySchema"] == [{"AttributeName": "selection_id", "KeyType": "HASH"}]
          and gsis[0]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["state"]}
          and {"AttributeName": "selection_id", "AttributeType": "S"} in tp.get("AttributeDefinitions", []),
          "LedgerTable: the by_selection index (selection_id, projecting state), as src/adapters/dynamodb.rs queries it")
    check(tp.get("TimeToLiveSpecification") == {"AttributeName": "expires_at", "Enabled": True}, "LedgerTable: TTL on expires_at")
    check(tp.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") == {"Fn::If": ["LedgerPitr", True, False]}
          and param("LedgerPointInTimeRecovery").get("AllowedValues") == ["true", "false"], "LedgerTable: point-in-time recovery as a parameter")
    check(env.get("LEDGER_TABLE_NAME") == {"Ref": "LedgerTable"}, "both functions: LEDGER_TABLE_NAME")
    def dynamo_actions(role, on_table_only):
        table_arn = {"Fn::GetAtt": ["LedgerTable", "Arn"]}
        index_arn = {"Fn::Sub": "${LedgerTable.Arn}/index/by_selection"}
        return {a for p in res[role]["Properties"].get("Policies", []) for st in p["PolicyDocument"]["Statement"]
                for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
                if str(a).startswith("dynamodb:") and (not on_table_only or st.get("Resource") == table_arn
                                                       or (a == "dynamodb:Query" and st.get("Resource") == index_arn))}
    grants = lambda role: dynamo_actions(role, True)
    all_dynamo = lambda role: dynamo_actions(role, False)
    check(grants("SubmitFunctionRole") == all_dynamo("SubmitFunctionRole") == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"},
          "submit: PutItem, UpdateItem, GetItem on the ledger table, Query on its by_selection index only, nothing else")
    check(grants("PollFunctionRole") == all_dynamo("PollFunctionRole") == {"dynamodb:UpdateItem", "dynamodb:GetItem"},
          "poll: UpdateItem, GetItem on the ledger table, nothing else")
    ledger_alarm = res.get("LedgerErrorsAlarm", {}).get("Properties", {})
    stats = [m.get("MetricStat", {}).get("Metric", {}) for m in ledger_alarm.get("Metrics", [])]
    check(any(m.get("MetricName") == "ThrottledRequests" and {"Name": "TableName", "Value": {"Ref": "LedgerTable"}} in m.get("Dimensions", []) for m in stats)
          and any(m.get("MetricName") == "ledger_errors" for m in stats), "an alarm on ledger throttling, errors and unreadable records")
    poll_props = raw["Resources"]["PollFunction"]["Properties"]
    poll_env = poll_props["Environment"]["Variables"]
    window, interval = int(poll_env["POLL_WINDOW_SECONDS"]), int(poll_env["POLL_INTERVAL_SECONDS"])
    check(window >= 60, f"poll watches until the next scheduled start (window {window} s on a 60 s schedule)")
    check(poll_props["Timeout"] >= window + interval, f"poll's timeout ({poll_props['Timeout']} s) leaves its last pass time to finish")
    check("/deletions/{task_id}" in routes, "HTTP API routes GET /deletions/{task_id}")

    # 11. Traced functions; the HTTP API with access logs and default route throttling (AWS's
    # serverless rules WS1000, ES2000, ES2003 — scripts/test.sh runs those rules too).
    for fn in ["SubmitFunction", "PollFunction"]:
        check(res[fn]["Properties"].get("TracingConfig") == {"Mode": "Active"}, f"{fn}: X-Ray tracing Active")
    stages = of_type("AWS::ApiGatewayV2::Stage")
    check(len(stages) == 1, "one HTTP API stage")
    for k, st in stages.items():
        sp = st["Properties"]
        check(sp.get("AccessLogSettings", {}).get("DestinationArn") == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]},
              f"{k}: access logs to their log group")
        check(sp.get("DefaultRouteSettings", {}).get("ThrottlingBurstLimit") == {"Ref": "HttpApiBurstLimit"}
              and sp.get("DefaultRouteSettings", {}).get("ThrottlingRateLimit") == {"Ref": "HttpApiRateLimit"},
              f"{k}: default route throttling from the parameters")
    check(all(r["Properties"].get("ApiId") == {"Ref": "HttpApi"} for r in route_resources.values()), "every route on the explicit HTTP API")

    # 12. Operating it: HttpAuth on every route, the dashboard, the event schemas, the backlog
    # alarm on visible + in-flight pending tasks, the Serverless Application Repository metadata.
    check(param("HttpAuth").get("AllowedValues") == ["signature", "iam"] and param("HttpAuth").get("Default") == "signature",
          "HttpAuth: signature (default) or iam")
    check(sorted(r["Properties"]["RouteKey"] for r in route_resources.values()) == sorted([
        "POST /deletions", "DELETE /v1/{project_id}/providers/{provider_id}/checkpoints/{checkpoint_id}",
        "DELETE /v3/{project_id}/backups/{backup_id}", "GET /deletions/status", "GET /deletions/{task_id}",
        "GET /selections/{selection_id}"]), "the six routes of docs/DESIGN.md")
    check(all(r["Properties"].get("AuthorizationType") == by_auth("NONE", "AWS_IAM") for r in route_resources.values()),
          "every route: AWS_IAM with HttpAuth=iam, NONE (the signature) otherwise")
    check(submit_env.get("HTTP_AUTH") == {"Ref": "HttpAuth"}, "submit: HTTP_AUTH from the parameter")
    integrations = of_type("AWS::ApiGatewayV2::Integration")
    check(len(integrations) == 1 and all(i["Properties"].get("PayloadFormatVersion") == "2.0"
              and i["Properties"].get("IntegrationUri") == {"Fn::GetAtt": ["SubmitFunction", "Arn"]} for i in integrations.values()),
          "one Lambda proxy integration, payload 2.0, to submit")
    check(all(r["Properties"].get("Target") == {"Fn::Sub": "integrations/${HttpApiIntegration}"} for r in route_resources.values()),
          "every route targets it")
    api_perms = [p["Properties"] for p in of_type("AWS::Lambda::Permission").values() if p["Properties"].get("Principal") == "apigateway.amazonaws.com"]
    check(len(api_perms) == 1 and "${HttpApi}/*" in str(api_perms[0].get("SourceArn")), "API Gateway may invoke submit, from this API only")
    stage = next(iter(stages.values()), {}).get("Properties", {})
    check(stage.get("StageName") == "$default" and stage.get("AutoDeploy") is True, "the $default stage, deployed on change")

    dash = res.get("Dashboard", {}).get("Properties", {}).get("DashboardBody", {})
    body, names = dash.get("Fn::Sub", ["", {}])
    import json, re
    resolved = re.sub(r"\$\{[^}]+\}", "X", body)
    try:
        widgets = json.loads(resolved)["widgets"]
        text = json.dumps(widgets)
    except Exception as e:
        widgets, text = [], ""
        check(False, f"dashboard body is JSON once substituted: {e}")
    for needle, what in [("submitted", "outcomes"), ("timed_out", "timed-out outcomes"), ("ApproximateNumberOfMessagesNotVisible", "in-flight pending tasks"),
                         ("ApproximateAgeOfOldestMessage", "age of the oldest pending task"), ("PendingDlqName", None), ("Throttles", "function throttles"),
                         ("Duration", "function duration"), ("Errors", "function errors"), ("detection_delay_bound_seconds", "detection delay"), ("cloud_call_ms", "cloud call latency")]:
        if what:
            check(needle in text, f"dashboard: {what}")
    check("${PendingDlqName}" in body and "${IntakeDlqName}" in body, "dashboard: both dead-letter queues")
    check(names.get("PendingQueueName") == {"Fn::GetAtt": ["PendingQueue", "QueueName"]}, "dashboard: the pending queue by name")
    check("DashboardUrl" in outputs, "output DashboardUrl")

    registry = of_type("AWS::EventSchemas::Registry")
    schemas = of_type("AWS::EventSchemas::Schema")
    check(len(registry) == 1 and len(schemas) == 6, "an event schema registry with six schemas, one per detail type")
    detail_types = set()
    for k, s in schemas.items():
        sp = s["Properties"]
        content = json.loads(sp["Content"])
        detail_types.update(content["properties"]["detail-type"]["enum"])
        check(sp.get("Type") == "JSONSchemaDraft4" and content.get("$schema") == "http://json-schema.org/draft-04/schema#", f"{k}: JSON Schema draft 4")
        on_file = json.load(open(f"events/schemas/{content['properties']['detail-type']['enum'][0].replace(' ', '')}.json"))
        check(on_file == content, f"{k}: the same schema as events/schemas/")
    check(detail_types == {f"Checkpoint Deletion {k}" for k in ["Submitted", "Completed", "Failed", "Timed Out", "Rejected", "Planned"]},
          "one schema per detail type")

    backlog = res.get("PendingBacklogAlarm", {}).get("Properties", {})
    metric_names = {m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in backlog.get("Metrics", [])}
    check({"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"} <= metric_names
          and backlog.get("Threshold") == {"Ref": "PendingBacklogAlarmCount"}, "an alarm on the pending backlog, visible and in flight")

    sar = raw.get("Metadata", {}).get("AWS::ServerlessRepo::Application", {})
    for key in ["Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "SemanticVersion", "SourceCodeUrl"]:
        check(bool(sar.get(key)), f"Serverless Application Repository metadata: {key}")
    check(sar.get("SemanticVersion") == cargo["package"]["version"] and sar.get("SpdxLicenseId") == cargo["package"]["license"],
          "its version and license are Cargo.toml's")
    check(os.path.exists(sar.get("LicenseUrl", "-")) and os.path.exists(sar.get("ReadmeUrl", "-")), "its license and readme files exist")
    samconfig = tomllib.load(open("samconfig.toml", "rb"))
    deploy = samconfig.get("default", {}).get("deploy", {}).get("parameters", {})
    check(deploy.get("resolve_s3") is True and "CAPABILITY_IAM" in str(deploy.get("capabilities")), "samconfig.toml: sam deploy resolves its bucket and may create roles")

    # HttpAuth=iam, expanded: the routes and the function URL use AWS_IAM (the condition true).
    iam_out = transform(copy.deepcopy(packaged), {**params, "HttpAuth": "iam"}, OfflinePolicies())
    check(all(r["Properties"]["AuthorizationType"] == by_auth("NONE", "AWS_IAM") for r in iam_out["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"),
          "HttpAuth=iam expands (the routes keep the condition CloudFormation resolves)")

    # Regions: one stack for every region; both functions get the table (expanded, with a
    # two-region value, the variables reach both functions as the parameters give them).
    check(param("Regions").get("Default") == "" and param("DefaultRegion").get("Default") == "default", "Regions and DefaultRegion are optional")
    two = json.dumps({"eu-nl": {"cbr": "https://cbr.eu-nl.otc.t-systems.com"}})
    regions_out = transform(copy.deepcopy(packaged), {**params, "Regions": two, "DefaultRegion": "eu-de"}, OfflinePolicies())
    for fn in ["SubmitFunction", "PollFunction"]:
        fn_env = regions_out["Resources"][fn]["Properties"]["Environment"]["Variables"]
        check(fn_env.get("REGIONS") == {"Ref": "Regions"} and fn_env.get("DEFAULT_REGION") == {"Ref": "DefaultRegion"},
              f"{fn}: REGIONS and DEFAULT_REGION from the parameters")

    # The pace of the calls (checks read in bulk): both functions, from the parameters.
    check(param("CloudRateCeiling").get("Default") == 100 and param("CloudRateFloor").get("Default") == 1, "CloudRateCeiling 100 and CloudRateFloor 1 by default")
    for fn in ["SubmitFunction", "PollFunction"]:
        fn_env = regions_out["Resources"][fn]["Properties"]["Environment"]["Variables"]
        check(fn_env.get("CLOUD_RATE_CEILING") == {"Ref": "CloudRateCeiling"} and fn_env.get("CLOUD_RATE_FLOOR") == {"Ref": "CloudRateFloor"},
              f"{fn}: CLOUD_RATE_CEILING and CLOUD_RATE_FLOOR from the parameters")

    # The functions' permissions and triggers.
    check(any(v["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"] for v in of_type("AWS::Lambda::EventSourceMapping").values()),
          "SQS intake with partial batch responses")
    if failures:
        print(f"\n{len(failures)} template check(s) failed")
        sys.exit(1)
    print("\nall template checks passed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
