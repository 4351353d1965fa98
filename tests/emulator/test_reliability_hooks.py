"""The emulator's reliability-test knobs: random faults, holds, feeds processed unpolled."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sidecar.emulator import EmulatorConfig, EmulatorState, ManualClock
from sidecar.emulator.server import EmulatorServer
from tests.emulator.support import ADJUSTMENT, Api

XML = b"<AmazonEnvelope/>"


@pytest.fixture
def make_api(clock: ManualClock) -> Iterator[object]:
    servers: list[EmulatorServer] = []
    apis: list[Api] = []

    def make(**config: object) -> tuple[Api, EmulatorState]:
        server = EmulatorServer(EmulatorState(EmulatorConfig(xsd_dir=None, rate_limiting=False, **config),  # type: ignore[arg-type]
                                              clock)).start()
        servers.append(server)
        api = Api(server.url)
        apis.append(api)
        return api, server.state

    yield make
    for api in apis:
        api.session.close()
    for server in servers:
        server.stop()


def test_random_faults_follow_their_rates_and_seed(make_api: object) -> None:
    api, state = make_api(random_faults={"getFeeds": {"error": 0.5, "throttle": 0.25}},  # type: ignore[operator]
                          random_fault_seed=1)
    codes = [api.call("GET", "/feeds/2021-06-30/feeds",
                      params={"feedTypes": ADJUSTMENT}).status_code for _ in range(200)]
    taken = state.random_faults_taken()
    assert codes.count(500) == taken[("getFeeds", "error")]
    assert codes.count(429) == taken[("getFeeds", "throttle")]
    assert 70 <= codes.count(500) <= 130 and 25 <= codes.count(429) <= 75
    assert codes.count(200) == 200 - codes.count(500) - codes.count(429)


def test_random_faults_refuse_unknown_operations_and_kinds() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        EmulatorState(EmulatorConfig(xsd_dir=None, random_faults={"nope": {"error": 0.1}}))
    with pytest.raises(ValueError):
        EmulatorState(EmulatorConfig(xsd_dir=None, random_faults={"getFeed": {"boom": 0.1}}))
    with pytest.raises(ValueError, match="over 1"):
        EmulatorState(EmulatorConfig(xsd_dir=None,
                                     random_faults={"getFeed": {"error": 0.6, "hang": 0.6}}))


def test_a_hold_after_createfeed_keeps_the_answer_until_released(make_api: object) -> None:
    api, state = make_api()  # type: ignore[operator]
    hold = state.hold("createFeed", after=True)
    answer: list[int] = []
    doc_id = api.upload(XML)
    caller = threading.Thread(target=lambda: answer.append(api.call(
        "POST", "/feeds/2021-06-30/feeds", json={
            "feedType": ADJUSTMENT, "marketplaceIds": ["ATVPDKIKX0DER"],
            "inputFeedDocumentId": doc_id}).status_code))
    caller.start()
    assert hold.reached.wait(10)
    assert len(state.all_feeds()) == 1 and not answer  # created, answer held back
    hold.release()
    caller.join(10)
    assert answer == [202]
    again = api.create_feed(ADJUSTMENT, XML)  # a hold stops only the calls it counts
    assert again.status_code == 202


def test_unpolled_feeds_are_processed_after_auto_process_seconds(
        make_api: object, clock: ManualClock) -> None:
    api, state = make_api(auto_process_seconds=120.0)  # type: ignore[operator]
    created = api.create_feed(ADJUSTMENT, XML)
    feed_id = created.json()["feedId"]
    listed = api.call("GET", "/feeds/2021-06-30/feeds", params={"feedTypes": ADJUSTMENT})
    assert listed.json()["feeds"][0]["processingStatus"] == "IN_QUEUE"
    clock.advance(120)
    listed = api.call("GET", "/feeds/2021-06-30/feeds", params={"feedTypes": ADJUSTMENT})
    assert listed.json()["feeds"][0]["processingStatus"] in ("DONE", "FATAL")
    assert state.feed(feed_id).status.value == listed.json()["feeds"][0]["processingStatus"]


def test_without_auto_processing_only_getfeed_moves_a_feed(make_api: object,
                                                           clock: ManualClock) -> None:
    api, _ = make_api()  # type: ignore[operator]
    api.create_feed(ADJUSTMENT, XML)
    clock.advance(3_000)
    listed = api.call("GET", "/feeds/2021-06-30/feeds", params={"feedTypes": ADJUSTMENT})
    assert listed.json()["feeds"][0]["processingStatus"] == "IN_QUEUE"


def test_an_aborted_hold_before_createfeed_creates_nothing(make_api: object) -> None:
    api, state = make_api()  # type: ignore[operator]
    hold = state.hold("createFeed")
    answer: list[int] = []
    doc_id = api.upload(XML)
    caller = threading.Thread(target=lambda: answer.append(api.call(
        "POST", "/feeds/2021-06-30/feeds", json={
            "feedType": ADJUSTMENT, "marketplaceIds": ["ATVPDKIKX0DER"],
            "inputFeedDocumentId": doc_id}).status_code))
    caller.start()
    assert hold.reached.wait(10)
    hold.abort()
    caller.join(10)
    assert answer == [503]
    assert state.all_feeds() == []
