"""Admission of long-lived requests and download names, as pure logic: a gate counts per user
and in all and frees a place exactly once; a download name of any text gives a safe header.
The real server's behaviour is proven in tests/security/test_streams.py."""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import Busy, TooManyRequests
from runner.server.admission import Admission, Gate, request_threads
from runner.server.api.logs import content_disposition
from runner.settings import Settings


def test_gate_refuses_a_key_beyond_its_share_with_429_and_others_still_enter():
    gate = Gate("streams", 10, per_key=2, retry_after=5)
    held = [gate.enter("ann"), gate.enter("ann")]
    with pytest.raises(TooManyRequests) as refused:
        gate.enter("ann")
    assert refused.value.http_status == 429 and refused.value.retry_after == 5
    held.append(gate.enter("bob"))
    assert (gate.open(), gate.open("ann"), gate.open("bob")) == (3, 2, 1)


def test_gate_refuses_everyone_beyond_the_total_with_503():
    gate = Gate("streams", 3, per_key=2)
    held = [gate.enter("ann"), gate.enter("bob"), gate.enter("cid")]
    with pytest.raises(Busy) as refused:
        gate.enter("dan")
    assert refused.value.http_status == 503 and not isinstance(refused.value, TooManyRequests)
    assert gate.try_enter("dan") is None
    held[0].release()
    assert gate.try_enter("dan") is not None


def test_a_ticket_frees_its_place_once_however_often_it_is_released():
    gate = Gate("streams", 2, per_key=2)
    ticket = gate.enter("ann")
    threads = [threading.Thread(target=ticket.release) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (gate.open(), gate.open("ann")) == (0, 0)
    gate.enter("ann")
    assert gate.open() == 1


def test_the_pool_has_threads_for_short_requests_beyond_every_admitted_long_one():
    settings = Settings(workers_threads=32, live_streams_max=64, claim_waits_max=16)
    assert request_threads(settings) == 32 + 64 + 16
    admission = Admission(settings)
    assert (admission.streams.limit, admission.claim_waits.limit) == (64, 16)


@given(st.text(max_size=300) | st.just("\ud800 lone surrogate"))
def test_download_names_of_any_text_give_a_safe_header(name):
    header = content_disposition(name)
    # Header values travel as Latin-1 in WSGI; ASCII without control characters is safe.
    assert header.isascii() and not re.search(r"[\x00-\x1f\x7f]", header)
    fallback = re.search(r'filename="([^"]*)"', header).group(1)
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", fallback)
    encoded = re.search(r"filename\*=UTF-8''(\S+)$", header).group(1)
    decoded = unquote(encoded, errors="strict")
    assert not re.search(r"[\x00-\x1f\x7f/\\\\]", decoded)


def test_download_name_keeps_readable_text_in_the_utf8_form():
    header = content_disposition('app-3-Übersetzung "日志"\n.log')
    assert 'filename="app-3-_bersetzung______.log"' in header
    assert unquote(header.split("filename*=UTF-8''")[1]) == 'app-3-Übersetzung "日志"_.log'
