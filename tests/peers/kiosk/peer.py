"""A test double of a DeepCell Kiosk for red's tests: its front-end HTTP API over a real Redis,
a bucket, and a consumer that follows the real consumer's Redis protocol.

The real kiosk-frontend is not on any registry and its licence is non-commercial only, so this
re-creates its behaviour (docs/kiosk.md, "Testing: the Kiosk double"); each handler says which
part of the front end or consumer it plays. Status codes and bodies are the front end's own.

- Front end: /api/health-check, /api/jobtypes, /api/models, /api/upload
  (multipart field `file`), /api/predict, /api/redis (HGET / HMGET), /api/status,
  /api/redis/expire, any other /api path -> 404 {}.
- Bucket: uploads are stored under `uploads/<md5(name_time)><ext>`; results under
  `output/<md5>.zip`, served at http://127.0.0.1:PORT/<bucket>/<key> (the path-style public URL).
  An upload whose file name contains `hang` is never answered, like the real front end when its
  storage write fails.
- Consumer: RPOPLPUSH <queue> processing-<queue>:<name>, statuses new -> started ->
  pre-processing -> predicting -> saving-results -> done, or failed with a traceback in `reason`;
  LREM when finished. A job fails when its input is not an image (PNG/TIFF/JPEG/GIF/BMP), when the
  bytes contain KIOSK-PEER-FAIL, or when `original_name` contains `fail`. The result zip holds
  `<stem>_feature_0.tif`, a copy of the input; a job whose `original_name` contains `gone` ends
  `done` with an `output_url` that answers 404 (its result was never written). Zip jobs
  (`<type>-zip`) unpack, push one child per
  image to `<type>`, wait with `progress`, and end `done` with `failures` (URL-encoded).

Recording (for the tests, not part of the front end): every POST under /api/ is appended to
STATE_DIR/requests.jsonl as one JSON line: `path`, `at` (the time it was handled), `contentType`, `body` (the JSON or form body as
the front end parsed it), and for an upload the multipart `filename` and `size`; and the
`uploadedName` the upload answered. A test that starts its own double reads that file to check
the bodies red sent against the real front end's recorded exchanges.

Environment: KIOSK_PORT (8095), KIOSK_REDIS_PORT (6390), KIOSK_BUCKET (kiosk-peer), JOB_TYPES
(mesmer,polaris,segmentation,caliban,spot), KIOSK_STEP_SECONDS (0.5), KIOSK_WORKERS (4 consumer
threads per queue), KIOSK_FRONTENDS (1 front-end process; more share the listening socket, like the
Kiosk's autoscaled front-end pods, so that the double's GIL is not what a benchmark measures),
STATE_DIR (bucket files).
"""

import ctypes
import datetime
import hashlib
import io
import json
import os
import signal
import threading
import time
import traceback
import urllib.parse
import uuid
import zipfile

import redis
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

PORT = int(os.environ.get("KIOSK_PORT", "8095"))
REDIS_PORT = int(os.environ.get("KIOSK_REDIS_PORT", "6390"))
BUCKET = os.environ.get("KIOSK_BUCKET", "kiosk-peer")
JOB_TYPES = os.environ.get("JOB_TYPES", "mesmer,polaris,segmentation,caliban,spot").split(",")
STEP = float(os.environ.get("KIOSK_STEP_SECONDS", "0.5"))
WORKERS = int(os.environ.get("KIOSK_WORKERS", "4"))
FRONTENDS = int(os.environ.get("KIOSK_FRONTENDS", "1"))
STATE_DIR = os.environ.get("STATE_DIR", "/tmp/red-kiosk/bucket")
CONSUMER = "kiosk-consumer-peer"

db = redis.Redis(host="127.0.0.1", port=REDIS_PORT, decode_responses=True)


def bucket_path(key):
    path = os.path.normpath(os.path.join(STATE_DIR, key))
    if not path.startswith(os.path.normpath(STATE_DIR) + os.sep):
        raise ValueError("key outside the bucket")
    return path


def bucket_write(key, data):
    path = bucket_path(key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def bucket_read(key):
    with open(bucket_path(key), "rb") as f:
        return f.read()


def js_now():
    # Front end: created_at/updated_at, JS ISO with milliseconds and Z.
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def py_now():
    # Consumer timestamps, Python isoformat with +00:00.
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def json_response(value, status=200):
    return Response(
        json.dumps(value, separators=(",", ":")),
        status=status,
        content_type="application/json; charset=utf-8",
        headers={"Access-Control-Allow-Origin": "*"},
    )


def body_of(request):
    # Front end: body-parser json and urlencoded.
    if request.mimetype == "application/json":
        try:
            return json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            return None
    return request.form.to_dict()


RECORD_LOCK = threading.Lock()


def record(request, path, response):
    # Not the front end's: one line per POST under /api/, for the tests to read.
    entry = {"path": path, "at": time.time(), "contentType": request.mimetype}
    upload = request.files.get("file") if path == "/api/upload" else None
    if upload is not None:
        upload.stream.seek(0, os.SEEK_END)
        entry["filename"] = upload.filename
        entry["size"] = upload.stream.tell()
        try:
            entry["uploadedName"] = json.loads(response.get_data(as_text=True)).get("uploadedName")
        except (ValueError, AttributeError):
            pass
    else:
        entry["body"] = body_of(request)
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with RECORD_LOCK, open(os.path.join(STATE_DIR, "requests.jsonl"), "a") as log:
        log.write(line)


def app(environ, start_response):
    request = Request(environ)
    path = request.path
    try:
        response = route(request, path)
    except Exception as error:  # 2: 500 {"message": err}
        response = json_response({"message": str(error)}, 500)
    if request.method == "POST" and path.startswith("/api/"):
        try:
            record(request, path, response)
        except OSError:
            pass
    return response(environ, start_response)


def route(request, path):
    method = request.method
    if path == "/api/health-check" and method == "GET":
        return json_response({"message": "OK"})
    if path == "/api/jobtypes" and method == "GET":
        return json_response({"jobTypes": JOB_TYPES})
    if path == "/api/models" and method == "GET":
        return json_response({"models": {}})
    if path == "/api/upload" and method == "POST":
        return upload(request)
    if path == "/api/predict" and method == "POST":
        return predict(request)
    if path == "/api/redis" and method == "POST":
        return redis_get(request)
    if path == "/api/status" and method == "POST":
        body = body_of(request) or {}
        return json_response({"status": db.hget(body.get("hash", ""), "status")})
    if path == "/api/redis/expire" and method == "POST":
        return expire(request)
    if path.startswith("/api/"):
        return json_response({}, 404)
    prefix = "/" + BUCKET + "/"
    if path.startswith(prefix) and method == "GET":
        try:
            data = bucket_read(path[len(prefix):])
        except (OSError, ValueError):
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, content_type="application/xml")
        return Response(data, content_type="application/zip")
    return Response("<!doctype html><title>kiosk</title>", content_type="text/html; charset=UTF-8")


def upload(request):
    # Front end upload (GCS): multer keeps the file; key uploads/<md5(originalname_now)><ext>.
    file = request.files.get("file")
    if file is None:
        return Response("Bad Request", 400, content_type="text/plain; charset=utf-8")
    name = file.filename or ""
    if "hang" in name:
        time.sleep(3600)  # the storage write failed and makePublic() never settles
    data = file.read()
    ext = os.path.splitext(name)[1]
    digest = hashlib.md5("{}_{}".format(name, time.time_ns() // 1_000_000).encode()).hexdigest()
    key = "uploads/{}{}".format(digest, ext)
    bucket_write(key, data)
    return json_response(
        {
            "imageURL": "https://storage.googleapis.com/{}/{}".format(BUCKET, key),
            "uploadedName": key,
        }
    )


def predict(request):
    # Front end predict: required jobType and imageName; both parameter styles; queue and hash key.
    body = body_of(request)
    if not body or not body.get("jobType") or not body.get("imageName"):
        return json_response({"message": "Invalid prediction request body."}, 400)
    job_type = body["jobType"]
    if job_type not in JOB_TYPES:
        return json_response({"message": "Invalid Job Type: {}.".format(job_type)}, 400)
    form = body.get("jobForm") or {}
    image_name = body["imageName"]
    queue = job_type + "-zip" if image_name.lower().endswith(".zip") else job_type
    key = "{}:{}:{}".format(queue, image_name, uuid.uuid4())
    now = js_now()
    fields = {
        "original_name": image_name,
        "input_file_name": body.get("uploadedName") or image_name,
        "model_name": body.get("modelName") or "",
        "model_version": body.get("modelVersion") or "",
        "preprocess_function": body.get("preprocessFunction") or "",
        "postprocess_function": body.get("postprocessFunction") or "",
        "cuts": body.get("cuts") or "0",
        "url": body.get("imageUrl") or "",
        "label": body.get("dataLabel") or "",
        "scale": str(form.get("scale") or ""),
        "channels": str(form.get("selectedChannels") or ""),
        "dimension_order": str(form.get("dimensionOrder") or ""),
        "segmentation_type": str(form.get("segmentationType") or ""),
        "status": "new",
        "created_at": now,
        "updated_at": now,
        "identity_upload": "kiosk-frontend-peer",
    }
    db.hset(key, mapping=fields)
    db.lpush(queue, key)
    return json_response({"hash": key})


def redis_get(request):
    # Front end: HGET for a string key, HMGET for a list; unknown hash -> null values.
    body = body_of(request) or {}
    field = body.get("key")
    if isinstance(field, list):
        return json_response({"value": db.hmget(body.get("hash", ""), field)})
    return json_response({"value": db.hget(body.get("hash", ""), field or "")})


def expire(request):
    # Front end: 200 {"value":1}, or 404 {"value":0} when the hash does not exist.
    body = body_of(request) or {}
    seconds = int(body.get("expireIn") or 3600)
    value = 1 if db.expire(body.get("hash", ""), seconds) else 0
    return json_response({"value": value}, 200 if value else 404)


# --- the consumer -----------------------------------------------------------------------------

IMAGE_MAGIC = (b"\x89PNG", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"GIF8", b"BM")


def update(key, **fields):
    fields["updated_at"] = py_now()
    fields["updated_by"] = threading.current_thread().name
    db.hset(key, mapping={k: str(v) for k, v in fields.items()})


def fake_predict(fields, data):
    if not data.startswith(IMAGE_MAGIC):
        raise ValueError("Could not read {} as an image.".format(fields.get("original_name")))
    if b"KIOSK-PEER-FAIL" in data or "fail" in fields.get("original_name", ""):
        raise RuntimeError(
            "Simulated model failure for {} (fake consumer).".format(fields.get("original_name"))
        )


def save_output(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    data = buffer.getvalue()
    key = "output/{}.zip".format(hashlib.md5(data + uuid.uuid4().bytes).hexdigest())
    bucket_write(key, data)
    return key, "http://127.0.0.1:{}/{}/{}".format(PORT, BUCKET, key)


def image_job(queue, key):
    start = time.time()
    fields = db.hgetall(key)
    name = fields.get("input_file_name", "")
    if name.lower().endswith(".zip"):
        raise ValueError('Invalid filetype for "{}" job.'.format(queue))
    update(key, status="started", identity_started=threading.current_thread().name)
    time.sleep(STEP)
    data = bucket_read(name)
    update(key, status="pre-processing", download_time=time.time() - start, scale=fields.get("scale") or "1", dim_order="YXC")
    time.sleep(STEP)
    update(key, status="predicting")
    fake_predict(fields, data)
    time.sleep(STEP)
    update(key, status="saving-results")
    stem = os.path.splitext(os.path.basename(fields.get("original_name", "image")))[0]
    if "gone" in fields.get("original_name", ""):
        output_key = "output/gone-{}.zip".format(uuid.uuid4().hex)
        url = "http://127.0.0.1:{}/{}/{}".format(PORT, BUCKET, output_key)
    else:
        output_key, url = save_output([("{}_feature_0.tif".format(stem), data)])
    time.sleep(STEP)
    update(
        key,
        status="done",
        output_file_name=output_key,
        output_url=url,
        total_jobs=1,
        total_time=time.time() - start,
        finished_at=py_now(),
    )


def zip_job(queue, key):
    start = time.time()
    fields = db.hgetall(key)
    name = fields.get("input_file_name", "")
    if not name.lower().endswith(".zip"):
        raise ValueError('Invalid filetype for "{}" job.'.format(queue))
    update(key, status="started", identity_started=threading.current_thread().name)
    child_queue = queue[: -len("-zip")]
    children = []
    with zipfile.ZipFile(io.BytesIO(bucket_read(name))) as archive:
        for member in archive.namelist():
            data = archive.read(member)
            if member.endswith("/") or not data.startswith(IMAGE_MAGIC):
                continue
            child_key = "uploads/{}/{}".format(uuid.uuid4().hex, member)
            bucket_write(child_key, data)
            child = "{}:{}:{}".format(child_queue, member, uuid.uuid4().hex)
            db.hset(child, mapping={"original_name": member, "input_file_name": child_key, "status": "new", "created_at": py_now()})
            db.lpush(child_queue, child)
            children.append(child)
    update(key, status="waiting", children=",".join(children), progress=0)
    while True:
        statuses = [db.hget(c, "status") for c in children]
        done = [c for c, s in zip(children, statuses) if s == "done"]
        failed = [c for c, s in zip(children, statuses) if s == "failed"]
        progress = 100 if not children else (len(done) + len(failed)) * 100 // len(children)
        update(key, status="waiting", progress=progress, **{"children:done": ",".join(done), "children:failed": ",".join(failed)})
        if len(done) + len(failed) == len(children):
            break
        time.sleep(STEP)
    files = []
    for child in done:
        files.append(("{}_feature_0.tif".format(os.path.splitext(db.hget(child, "original_name"))[0]), bucket_read(db.hget(child, "input_file_name"))))
    output_key, url = save_output(files)
    failures = urllib.parse.urlencode([(c, db.hget(c, "reason") or "") for c in failed])
    for child in children:
        db.expire(child, 3600)
    update(
        key,
        status="done",
        output_file_name=output_key,
        output_url=url,
        total_jobs=len(children),
        failures=failures,
        total_time=time.time() - start,
        finished_at=py_now(),
    )


def consume(queue):
    # One processing list per worker, as each consumer pod has its own.
    processing = "processing-{}:{}".format(queue, threading.current_thread().name)
    handler = zip_job if queue.endswith("-zip") else image_job
    while True:
        # Anything stranded in our processing list goes back to the work queue first.
        while db.rpoplpush(processing, queue):
            pass
        key = db.brpoplpush(queue, processing, timeout=1)
        if key is None:
            continue
        try:
            handler(queue, key)
        except Exception:
            update(key, status="failed", reason=traceback.format_exc().strip())
        db.lrem(processing, 1, key)


def more_frontends(server):
    # Forked before any thread starts; each child serves the same socket and ends with its parent.
    for _ in range(FRONTENDS - 1):
        if os.fork() == 0:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:
                os._exit(0)
            server.serve_forever()
            os._exit(0)


def main():
    os.makedirs(STATE_DIR, exist_ok=True)
    db.ping()
    server = make_server("127.0.0.1", PORT, app, threaded=True)
    more_frontends(server)
    for job_type in JOB_TYPES:
        for queue in (job_type, job_type + "-zip"):
            # Several workers per queue, like an autoscaled deployment.
            for i in range(WORKERS):
                name = "{}-{}-{}".format(CONSUMER, queue, i)
                threading.Thread(target=consume, args=(queue,), name=name, daemon=True).start()
    print("kiosk peer: front end on http://127.0.0.1:{}".format(PORT), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
