"""The seeds' deploy script, reduced: check the variables the pipeline gives it, then say what
it would deploy. Secrets are shown as a digest only; the agent masks their values anyway."""

import hashlib
import os

import aliyun_cs_tools  # installed by the step's `pip install aliyun_cs_tools`

SECRETS = ("ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET", "CLUSTER_ID", "PGCRYPTO_DEFAULT_KEY")

assert os.environ["REGION"] == "cn-shanghai", os.environ["REGION"]
assert os.environ["PROJECT_NAME"] == "cmdb-api", os.environ["PROJECT_NAME"]
assert os.environ["VERSION"] == "1.2.3", os.environ["VERSION"]
for name in SECRETS:
    value = os.environ[name]
    assert value, f"{name} is empty"
    print(f"{name} sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]}")
print("cluster id as printed: {}".format(os.environ["CLUSTER_ID"]))
print(
    "deploying {} {} to cluster in {} with aliyun_cs_tools {}".format(
        os.environ["PROJECT_NAME"],
        os.environ["VERSION"],
        os.environ["REGION"],
        aliyun_cs_tools.VERSION,
    )
)
