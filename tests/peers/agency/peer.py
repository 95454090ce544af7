"""A local CC-Agency 9.3.0 for red's tests: the real broker, trustee, scheduler and user tool.

Everything that answers HTTP is the unmodified cc-agency code from PyPI. Two things are swapped,
as docs/remote.md ("Testing against the real broker") describes:

1. MongoDB is mongomock (one in-memory store shared by every client, GridFS on), with one fix:
   an aggregation `$project` with a nested spec (`history: {node: 1, ...}`) is rewritten to the
   equivalent dotted spec, which mongomock evaluates correctly.
2. The docker node (`cc_agency.controller.scheduler.ClientProxy`) is `FakeNode`: it takes the
   batches the real scheduler gives it, fetches their secrets from the real trustee, builds the
   restricted RED with the real code, marks them `processing`, and after PEER_RUN_SECONDS ends
   them. A batch fails when `cli.baseCommand` is `false` or a scalar input is the string "FAIL";
   a batch with a scalar input "SLOW" runs 15 times longer (for cancel tests);
   a failure writes stdout/stderr to GridFS and goes through the real `batch_failure` (so the
   retry, then final failure, is the broker's own).

Configuration (environment): AGENCY_PORT (8090), TRUSTEE_PORT (port+1), STATE_DIR (required,
short: it holds the ZeroMQ socket), AGENCY_USERS (`name:password:y|n,...`), PEER_RUN_SECONDS (2),
FAKE_NODE_RAM (8192), NUM_LOGIN_ATTEMPTS (3), BLOCK_FOR_SECONDS (10).
"""

import io
import os
import sys
import threading
import time

import mongomock
import mongomock.gridfs
import pymongo

PORT = int(os.environ.get("AGENCY_PORT", "8090"))
TRUSTEE_PORT = int(os.environ.get("TRUSTEE_PORT", str(PORT + 1)))
STATE_DIR = os.environ["STATE_DIR"]
USERS = os.environ.get("AGENCY_USERS", "alice:alicepw:n,admin:adminpw:y")
RUN_SECONDS = float(os.environ.get("PEER_RUN_SECONDS", "2"))
NODE_RAM = int(os.environ.get("FAKE_NODE_RAM", "8192"))

# 1. MongoDB -> mongomock
mongomock.gridfs.enable_gridfs_integration()
_CLIENT = mongomock.MongoClient()
pymongo.MongoClient = lambda *args, **kwargs: _CLIENT

_aggregate = mongomock.collection.Collection.aggregate


def _flatten(prefix, spec, out):
    for key, value in spec.items():
        if isinstance(value, dict) and not any(k.startswith("$") for k in value):
            _flatten(prefix + key + ".", value, out)
        else:
            out[prefix + key] = value


def _aggregate_fixed(self, pipeline, *args, **kwargs):
    fixed = []
    for stage in pipeline:
        if "$project" in stage:
            flat = {}
            _flatten("", stage["$project"], flat)
            stage = {"$project": flat}
        fixed.append(stage)
    return _aggregate(self, fixed, *args, **kwargs)


mongomock.collection.Collection.aggregate = _aggregate_fixed

# Configuration file, read by every cc-agency part through its `-c` argument.
os.makedirs(STATE_DIR, exist_ok=True)
CONF = os.path.join(STATE_DIR, "cc-agency.yml")
with open(CONF, "w") as f:
    f.write(
        f"""broker:
  auth:
    num_login_attempts: {int(os.environ.get("NUM_LOGIN_ATTEMPTS", "3"))}
    block_for_seconds: {int(os.environ.get("BLOCK_FOR_SECONDS", "10"))}
    tokens_valid_for_seconds: 172800
controller:
  bind_socket_path: {os.path.join(STATE_DIR, "sock")}
  docker:
    nodes:
      fake-node-1:
        base_url: unix:///nonexistent
trustee:
  internal_url: http://127.0.0.1:{TRUSTEE_PORT}
  username: trustee
  password: trustee-peer-password
mongo:
  db: ccagency
  username: peer
  password: peer
"""
    )
sys.argv = [sys.argv[0], "-c", CONF]

# 2. The docker node -> FakeNode
from bson.objectid import ObjectId  # noqa: E402
from cc_agency.commons.helper import batch_failure  # noqa: E402
import cc_agency.controller.docker as docker_node  # noqa: E402
import cc_agency.controller.scheduler as scheduler  # noqa: E402


class FakeNode:
    """Stands in for ClientProxy: same constructor, same methods the scheduler calls."""

    def __init__(self, node_name, conf, mongo, trustee_client, scheduling_event):
        self._node_name = node_name
        self._mongo = mongo
        self._trustee_client = trustee_client
        self._scheduling_event = scheduling_event
        self._wake = threading.Event()
        mongo.db["nodes"].insert_one(
            {
                "nodeName": node_name,
                "state": "online",
                "history": [{"state": "online", "time": time.time(), "debugInfo": None}],
                "ram": NODE_RAM,
                "cpus": 4,
                "gpus": [],
            }
        )
        threading.Thread(target=self._loop, daemon=True).start()

    def get_gpus(self):
        return []

    def is_online(self):
        return True

    def do_check_for_batches(self):
        self._wake.set()

    def do_check_exited_containers(self):
        self._wake.set()

    def do_inspect(self):
        pass

    def _loop(self):
        while True:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            for batch in list(
                self._mongo.db["batches"].find({"state": "scheduled", "node": self._node_name})
            ):
                self._start(batch)

    def _start(self, batch):
        batch_id = str(batch["_id"])
        try:
            # The real code: collect the secrets from the trustee, build the restricted RED,
            # store cliStdout/cliStderr.
            restricted = docker_node.ClientProxy._create_restricted_red_batch(self, batch)
        except Exception as error:  # the real node fails the batch the same way
            batch_failure(self._mongo, batch_id, repr(error), None, "scheduled")
            self._scheduling_event.set()
            return
        result = self._mongo.db["batches"].update_one(
            {"_id": ObjectId(batch_id), "state": "scheduled"},
            {
                "$set": {"state": "processing"},
                "$push": {
                    "history": {
                        "state": "processing",
                        "time": time.time(),
                        "debugInfo": None,
                        "node": self._node_name,
                        "ccagent": None,
                    }
                },
            },
        )
        if result.modified_count == 1:
            inputs = batch.get("inputs") or {}
            slow = any(v == "SLOW" for v in inputs.values())
            seconds = RUN_SECONDS * 15 if slow else RUN_SECONDS
            timer = threading.Timer(seconds, self._finish, args=(batch_id, restricted))
            timer.daemon = True
            timer.start()

    def _write(self, name, text):
        self._mongo.write_file(name, text.encode("utf-8"))

    def _finish(self, batch_id, restricted):
        try:
            self._finish_inner(batch_id, restricted)
        except Exception as error:
            print(f"fake node: {error!r}", file=sys.stderr)
        self._scheduling_event.set()

    def _finish_inner(self, batch_id, restricted):
        batch = self._mongo.db["batches"].find_one({"_id": ObjectId(batch_id)})
        if batch is None or batch["state"] != "processing":
            return  # cancelled meanwhile: the real node removes the container
        experiment = self._mongo.db["experiments"].find_one({"_id": ObjectId(batch["experimentId"])})
        command = ((experiment or {}).get("cli") or {}).get("baseCommand")
        inputs = restricted.get("inputs", {}) or {}
        fails = command == "false" or any(v == "FAIL" for v in inputs.values())
        stdout = f"fake stdout of batch {batch_id}\ncommand: {command}\n"
        stderr = f"fake stderr of batch {batch_id}\nsimulated failure\n"
        process = {
            "returnCode": 1 if fails else 0,
            "executed": True,
            "stdout": batch.get("cliStdout"),
            "stderr": batch.get("cliStderr"),
        }
        ccagent = {
            "command": [str(command), "..."],
            "process": process,
            "debugInfo": ["simulated failure (fake node)"] if fails else None,
            "inputs": None,
            "outputs": None,
            "state": "failed" if fails else "succeeded",
        }
        if fails:
            self._write(f"{batch_id}_stdout", stdout)
            self._write(f"{batch_id}_stderr", stderr)
            debug_info = "Batch failed.\nContainer stderr:\n{}\ndebug info:\n{}".format(
                stderr, ccagent["debugInfo"]
            )
            batch_failure(self._mongo, batch_id, debug_info, ccagent, "processing")
            return
        if batch.get("usedSpecifiedStdout"):
            self._write(f"{batch_id}_stdout", stdout)
        if batch.get("usedSpecifiedStderr"):
            self._write(f"{batch_id}_stderr", "")
        self._mongo.db["batches"].update_one(
            {"_id": ObjectId(batch_id), "state": "processing"},
            {
                "$set": {"state": "succeeded"},
                "$push": {
                    "history": {
                        "state": "succeeded",
                        "time": time.time(),
                        "debugInfo": None,
                        "node": self._node_name,
                        "ccagent": ccagent,
                    }
                },
            },
        )


scheduler.ClientProxy = FakeNode


def main():
    from werkzeug.serving import make_server

    # The trustee (real app) in a thread.
    import cc_agency.trustee.app as trustee

    trustee_server = make_server("127.0.0.1", TRUSTEE_PORT, trustee.app, threaded=True)
    threading.Thread(target=trustee_server.serve_forever, daemon=True).start()

    # Users through the real user tool, its questions answered.
    from cc_agency.tools.create_broker_user import main as create_user
    import builtins
    import getpass

    for entry in USERS.split(","):
        name, password, admin = entry.split(":")
        answers = iter(["", name, admin])
        real_input, real_getpass = builtins.input, getpass.getpass
        builtins.input = lambda prompt="": next(answers)
        create_user.getpass = lambda prompt="": password
        try:
            create_user.run(CONF)
        finally:
            builtins.input, getpass.getpass = real_input, real_getpass

    # The real controller (scheduler, voiding, notifications) in a thread.
    import cc_agency.controller.main as controller

    threading.Thread(target=controller.main, daemon=True).start()
    while not os.path.exists(os.path.join(STATE_DIR, "sock")):
        time.sleep(0.05)

    # The real broker.
    import cc_agency.broker.app as broker

    server = make_server("127.0.0.1", PORT, broker.app, threaded=True)
    print(f"agency peer: broker on http://127.0.0.1:{PORT}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
