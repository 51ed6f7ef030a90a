"""The peer: the submit job for an SQS batch written the way a Python user would — boto3 for
SQS and EventBridge, the official Huawei SDK signer for CSBS — run under awslambdaric.
Used only by scripts/bench.sh to compare cold start and memory."""
import hashlib, json, os, re, time, urllib.error, urllib.request

import boto3
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROVIDER = "fc4d5750-22e7-4798-8a46-f48f62c4c1da"
ENDPOINT = os.environ["CSBS_ENDPOINT"].rstrip("/")
sqs = boto3.client("sqs")
events = boto3.client("events")
signer = Signer(BasicCredentials(os.environ["CSBS_AK"], os.environ["CSBS_SK"]))

def delete(project, checkpoint):
    host = ENDPOINT.split("://", 1)[1]
    req = SdkRequest(method="DELETE", schema="http", host=host,
                     resource_path=f"/v1/{project}/providers/{PROVIDER}/checkpoints/{checkpoint}",
                     query_params=[], header_params={"X-Project-Id": project, "Content-Type": "application/json"})
    signer.sign(req)
    r = urllib.request.Request(ENDPOINT + req.uri, method="DELETE", headers=req.header_params)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, b""
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            req = json.loads(record["body"])
            if not (ID.match(req.get("project_id", "")) and ID.match(req.get("checkpoint_id", ""))):
                raise ValueError("invalid ids")
            status, body = delete(req["project_id"], req["checkpoint_id"])
            if status == 400 and b"CSBS.2003" in body:
                status = 200  # already being deleted: still pending
            task_id = "tsk_" + hashlib.sha256(f"{req['project_id']}/{req['checkpoint_id']}".encode()).hexdigest()[:32]
            if status == 200:
                sqs.send_message(QueueUrl=os.environ["PENDING_QUEUE_URL"], MessageBody=json.dumps({"task_id": task_id, **req}))
                kind = "Submitted"
            elif status == 404:
                kind = "Completed"
            else:
                raise RuntimeError(f"CSBS answered {status}")
            events.put_events(Entries=[{"Source": "csbs.checkpoint-deletion", "DetailType": f"Checkpoint Deletion {kind}",
                                        "Detail": json.dumps({"task_id": task_id, **req}), "EventBusName": os.environ["EVENT_BUS_NAME"]}])
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
