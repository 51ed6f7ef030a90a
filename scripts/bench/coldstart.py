#!/usr/bin/env python3
"""Cold start of a Lambda function process: spawn -> its first Runtime API `next` poll.

A minimal Runtime API server on 127.0.0.1 answers the first `next` with EVENT, records the
response, then never answers again; the process is killed after its peak RSS (VmHWM) is read.

  coldstart.py --runs 20 --event EVENT.json --name NAME -- CMD [ARGS...]

The environment is inherited (AWS_LAMBDA_RUNTIME_API is set here). Prints one JSON line:
median / min / max cold start (ms), median first-invocation time (ms), median peak RSS (MB).
"""
import argparse, http.server, json, os, statistics, subprocess, sys, threading, time

class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *a):
        pass

    def do_GET(self):
        st = Api.state
        if self.path.endswith("/runtime/invocation/next"):
            if st["first_next"] is None:
                st["first_next"] = time.perf_counter()
                st["ready"].set()
                body = st["event"]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-central-1:000000000000:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                st["done"].wait(60)  # the second `next`: hold it until the process is killed
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_POST(self):
        st = Api.state
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if "/response" in self.path or "/error" in self.path:
            st["answered"] = time.perf_counter()
            st["answer"] = data.decode(errors="replace")
            st["answered_ev"].set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

def vmhwm_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--event", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--before", help="shell command run before each spawn (e.g. seeding)")
    ap.add_argument("--log", help="append the processes' output to this file")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    cold, invoke, rss, answers = [], [], [], []
    for run in range(a.runs):
        if a.before:
            subprocess.run(a.before, shell=True, check=True, stdout=subprocess.DEVNULL)
        event = open(a.event, "rb").read()  # re-read: --before may rewrite it
        Api.state = st = {"first_next": None, "event": event, "ready": threading.Event(), "answered_ev": threading.Event(),
                          "done": threading.Event(), "answered": None, "answer": None}
        # A fresh server (and port) per run: a request the previous process sent just before it
        # was killed must not reach this run's state.
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
        server.handle_error = lambda *_: None  # killed processes reset their connections
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
        t0 = time.perf_counter()
        out = open(a.log, "ab") if a.log else subprocess.DEVNULL
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        if not st["ready"].wait(30):
            p.kill(); sys.exit(f"{a.name}: no `next` poll within 30 s")
        cold.append((st["first_next"] - t0) * 1000)
        if not st["answered_ev"].wait(60):
            p.kill(); sys.exit(f"{a.name}: no answer within 60 s (run {run}, first next at {st['first_next'] is not None})")
        invoke.append((st["answered"] - st["first_next"]) * 1000)
        rss.append(vmhwm_mb(p.pid))
        answers.append(st["answer"])
        st["done"].set()
        p.kill(); p.wait()
        server.shutdown(); server.server_close()
    print(json.dumps({"name": a.name, "runs": a.runs, "cold_start_ms_median": statistics.median(cold),
                      "cold_start_ms_min": min(cold), "cold_start_ms_max": max(cold),
                      "first_invoke_ms_median": statistics.median(invoke), "peak_rss_mb_median": statistics.median(rss),
                      "sample_answer": answers[-1][:300]}))

if __name__ == "__main__":
    main()
