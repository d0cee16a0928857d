"""The local stack with the cloudfront signer, from its edges: Tavus downloads each drop through
the CloudFront stand-in, with a signed URL that lives 48 hours, and the replica completes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from replica_pipeline.config import SIGNER
from tests.integration.conftest import local_stack
from tests.integration.edges import SAMPLE, Edges, submit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloudfront(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    for description in local_stack(
        tmp_path_factory.mktemp("cloudfront-stack"), f"{SIGNER}=cloudfront"
    ):
        yield Edges(description)


@pytest.mark.security
def test_a_drop_is_downloaded_through_cloudfront_and_completes(cloudfront: Edges) -> None:
    edge_url = cloudfront.stack["cloudfront_url"]
    sid = submit(cloudfront, "clara")

    item = cloudfront.wait_for(sid)

    assert item["status"] == "completed"
    [replica] = [
        r
        for r in cloudfront.tavus("/_emulator/replicas")["data"]
        if r["replica_id"] == item["replica_id"]
    ]
    url = replica["request"]["train_video_url"]
    assert url.startswith(f"{edge_url}/")
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert {"Expires", "Signature", "Key-Pair-Id"} <= set(query)
    assert not any(name.startswith("X-Amz-") for name in query)  # no IAM credential in sight
    expires = datetime.fromtimestamp(int(query["Expires"]), UTC)
    assert expires - datetime.now(UTC) > timedelta(hours=47)
    assert replica["downloads"] == [
        {"url": url, "status_code": 200, "bytes": SAMPLE.stat().st_size}
    ]


@pytest.mark.security
def test_the_stand_in_refuses_the_same_url_once_tampered(cloudfront: Edges) -> None:
    sid = submit(cloudfront, "tamper")
    item = cloudfront.wait_for(sid)
    [replica] = [
        r
        for r in cloudfront.tavus("/_emulator/replicas")["data"]
        if r["replica_id"] == item["replica_id"]
    ]
    url = replica["request"]["train_video_url"]

    tampered = requests.get(url.replace("Signature=", "Signature=AAAA"), timeout=10)
    unsigned = requests.get(url.split("?")[0], timeout=10)

    assert tampered.status_code == 403
    assert unsigned.status_code == 403
