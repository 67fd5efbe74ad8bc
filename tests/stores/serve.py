"""A local object store for tests/stores.rs, on 127.0.0.1 (no outside network).

    python serve.py s3 FOLDER   moto's S3 server (PyPI `moto[server]`)
    python serve.py az FOLDER   Azurite's blob service (npm `azurite`; its
                                `azurite-blob` script is $PIPE_TEST_AZURITE)

Makes the bucket (container) `pipe-data`, uploads each file below FOLDER as
`dir/<its path below FOLDER>` with the store's own client (boto3,
azure-storage-blob),
prints one JSON line, {"url": "<scheme>://pipe-data/dir", "env": {...}}: the
environment pipe reads the store with, and serves until its standard input
closes.
"""

import json
import os
import re
import subprocess
import sys

BUCKET = "pipe-data"

# Azurite's well-known development account (public, in Azure's docs).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def uploads(folder):
    """(path, key) of every file below folder."""
    for below, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(below, name)
            yield path, "dir/" + os.path.relpath(path, folder).replace(os.sep, "/")


def serve_s3(folder):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "pipe-test", "aws_secret_access_key": "pipe-test-secret"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket=BUCKET)
    for path, key in uploads(folder):
        with open(path, "rb") as f:
            client.put_object(Bucket=BUCKET, Key=key, Body=f.read())
    env = {
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
    }
    return f"s3://{BUCKET}/dir", env, server.stop


def serve_az(folder):
    from azure.storage.blob import BlobServiceClient

    azurite = os.environ["PIPE_TEST_AZURITE"]
    args = [azurite, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
            "--disableTelemetry", "--skipApiVersionCheck"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    endpoint = None
    for line in process.stdout:
        found = re.search(r"listens on (http://\S+)", line)
        if found:
            endpoint = found.group(1)
            break
    if endpoint is None:
        process.kill()
        sys.exit("azurite did not start")
    connection = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                  f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};")
    container = BlobServiceClient.from_connection_string(connection).create_container(BUCKET)
    for path, key in uploads(folder):
        with open(path, "rb") as f:
            container.upload_blob(key, f.read())
    env = {"AZURE_STORAGE_USE_EMULATOR": "true", "AZURITE_BLOB_STORAGE_URL": endpoint}
    return f"az://{BUCKET}/dir", env, process.terminate


def main():
    kind, folder = sys.argv[1], sys.argv[2]
    url, env, stop = {"s3": serve_s3, "az": serve_az}[kind](folder)
    print(json.dumps({"url": url, "env": env}), flush=True)
    sys.stdin.read()
    stop()


if __name__ == "__main__":
    main()
